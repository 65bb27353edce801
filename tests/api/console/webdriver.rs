//! A small W3C WebDriver client for the console's test: starts Debian's `chromedriver`, opens
//! one headless Chromium session with a fresh profile, and speaks the protocol's JSON over HTTP
//! (navigate, find, click, type, run a script, take a screenshot). Nothing more is needed, so
//! no WebDriver crate.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// The key under which WebDriver names an element.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long a wait for the page lasts before the test fails.
pub(super) const PAGE_PATIENCE: Duration = Duration::from_secs(30);

/// The browser and its driver, both on this machine.
pub(super) struct Installed {
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
}

impl Installed {
    /// Finds `chromium` and `chromedriver` on the `PATH`, or says which is missing.
    pub(super) fn find() -> Result<Self, String> {
        let search = |name: &str| {
            std::env::var_os("PATH")
                .into_iter()
                .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
                .map(|folder| folder.join(name))
                .find(|candidate| candidate.is_file())
                .ok_or_else(|| format!("{name} is not installed (run .ci/browser-tools)"))
        };
        Ok(Self {
            chromium: search("chromium")?,
            chromedriver: search("chromedriver")?,
        })
    }
}

/// One browser session; the driver (and with it the browser) is killed when dropped.
pub(super) struct Browser {
    http: reqwest::Client,
    session: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub(super) async fn start(installed: &Installed) -> Self {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let driver = Command::new(&installed.chromedriver)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("starting chromedriver");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            let ready = match http.get(format!("{base}/status")).send().await {
                Ok(response) => response
                    .json::<Value>()
                    .await
                    .is_ok_and(|status| status["value"]["ready"] == true),
                Err(_) => false,
            };
            if ready {
                break;
            }
            assert!(
                started.elapsed() < PAGE_PATIENCE,
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let arguments = [
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--window-size=1280,900".into(),
            "--hide-scrollbars".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": installed.chromium, "args": arguments },
        }}});
        let response: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = response["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {response}"))
            .to_string();
        Self {
            http,
            session: format!("{base}/session/{session}"),
            driver,
            _profile: profile,
        }
    }

    /// One WebDriver command; its `value`, or a panic naming the WebDriver error.
    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.try_command(method, path, body)
            .await
            .unwrap_or_else(|error| panic!("webdriver {path}: {error}"))
    }

    /// One WebDriver command; its `value`, or the error WebDriver answered.
    async fn try_command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Value> {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            Ok(answer["value"].clone())
        } else {
            Err(answer)
        }
    }

    /// Waits for the page's dialog (`confirm`), accepts it and returns its text.
    pub(super) async fn accept_dialog(&self) -> String {
        let started = Instant::now();
        loop {
            if let Ok(text) = self
                .try_command(reqwest::Method::GET, "/alert/text", None)
                .await
            {
                self.command(reqwest::Method::POST, "/alert/accept", Some(json!({})))
                    .await;
                return text.as_str().unwrap_or_default().to_string();
            }
            assert!(started.elapsed() < PAGE_PATIENCE, "no dialog opened");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(super) async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// Runs `script` in the page with `arguments`, returning what it returns.
    pub(super) async fn script(&self, script: &str, arguments: Value) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": arguments })),
        )
        .await
    }

    async fn element(&self, selector: &str) -> String {
        let found = self
            .command(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": selector })),
            )
            .await;
        found[ELEMENT].as_str().unwrap().to_string()
    }

    /// Waits for the element, then clicks it the way a user would.
    pub(super) async fn click(&self, selector: &str) {
        self.wait_for(selector).await;
        let element = self.element(selector).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Waits for the input, empties it and types `text` into it.
    pub(super) async fn type_into(&self, selector: &str, text: &str) {
        self.wait_for(selector).await;
        let element = self.element(selector).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{element}/clear"),
            Some(json!({})),
        )
        .await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// The element's text as shown, `None` while there is no such element.
    pub(super) async fn text(&self, selector: &str) -> Option<String> {
        let text = self
            .script(
                "const e = document.querySelector(arguments[0]); \
                 return e ? e.innerText.trim() : null;",
                json!([selector]),
            )
            .await;
        text.as_str().map(str::to_string)
    }

    /// The texts of every matching element as shown, in document order.
    pub(super) async fn texts(&self, selector: &str) -> Vec<String> {
        let texts = self
            .script(
                "return Array.from(document.querySelectorAll(arguments[0]), \
                 (e) => e.innerText.trim());",
                json!([selector]),
            )
            .await;
        serde_json::from_value(texts).unwrap_or_default()
    }

    /// How many elements match.
    pub(super) async fn count(&self, selector: &str) -> usize {
        let count = self
            .script(
                "return document.querySelectorAll(arguments[0]).length;",
                json!([selector]),
            )
            .await;
        count.as_u64().unwrap_or(0) as usize
    }

    pub(super) async fn wait_for(&self, selector: &str) {
        self.wait_text(selector, |_| true, "to appear").await;
    }

    /// Waits until the element's text satisfies `wanted`; returns it. Fails after
    /// [`PAGE_PATIENCE`] with the last text seen.
    pub(super) async fn wait_text(
        &self,
        selector: &str,
        wanted: impl Fn(&str) -> bool,
        what: &str,
    ) -> String {
        let started = Instant::now();
        loop {
            let text = self.text(selector).await;
            if let Some(text) = text.as_deref().filter(|text| wanted(text)) {
                return text.to_string();
            }
            assert!(
                started.elapsed() < PAGE_PATIENCE,
                "{selector} {what}: last seen {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A PNG of the viewport, written to `path`.
    pub(super) async fn screenshot(&self, path: &Path) {
        let encoded = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        write_png(path, encoded.as_str().unwrap());
    }

    /// A PNG of one element (scrolled into view), written to `path`.
    pub(super) async fn element_screenshot(&self, selector: &str, path: &Path) {
        self.wait_for(selector).await;
        let element = self.element(selector).await;
        let encoded = self
            .command(
                reqwest::Method::GET,
                &format!("/element/{element}/screenshot"),
                None,
            )
            .await;
        write_png(path, encoded.as_str().unwrap());
    }

    /// Ends the session (the browser quits), then the driver.
    pub(super) async fn quit(mut self) {
        self.command(reqwest::Method::DELETE, "", None).await;
        let _ = self.driver.kill().await;
    }
}

fn write_png(path: &Path, base64: &str) {
    let png = decode_base64(base64);
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, png).unwrap();
}

/// Standard base64 (what WebDriver sends screenshots in), padding and whitespace ignored.
fn decode_base64(text: &str) -> Vec<u8> {
    let value = |byte: u8| -> u32 {
        match byte {
            b'A'..=b'Z' => u32::from(byte - b'A'),
            b'a'..=b'z' => u32::from(byte - b'a') + 26,
            b'0'..=b'9' => u32::from(byte - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            other => panic!("not base64: {other}"),
        }
    };
    let symbols: Vec<u8> = text
        .bytes()
        .filter(|byte| !byte.is_ascii_whitespace() && *byte != b'=')
        .collect();
    let mut bytes = Vec::with_capacity(symbols.len() * 3 / 4);
    for chunk in symbols.chunks(4) {
        let bits = chunk
            .iter()
            .enumerate()
            .fold(0u32, |bits, (index, &symbol)| {
                bits | (value(symbol) << (18 - 6 * index))
            });
        let produced = chunk.len() * 6 / 8;
        bytes.extend_from_slice(&bits.to_be_bytes()[1..=produced]);
    }
    bytes
}

#[test]
fn base64_decodes_with_and_without_padding() {
    assert_eq!(decode_base64("aGVsbG8="), b"hello");
    assert_eq!(decode_base64("aGVsbG8h"), b"hello!");
    assert_eq!(decode_base64("aGk="), b"hi");
}
