//! The operator console (`/console`): how its files are served, the admin API's item search it
//! uses, and the console itself driven in a real browser.

mod browser;
mod serving;
mod webdriver;
