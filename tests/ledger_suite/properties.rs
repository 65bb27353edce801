//! Property tests: random interleavings of orders and stock operations against the policy, and
//! random operation sequences against an in-memory model, and explanations that always equal
//! what a push sends.

use super::*;

#[derive(Debug, Clone)]
pub(crate) enum PolicyStep {
    Receive {
        sku: usize,
        location: usize,
        quantity: i64,
    },
    Adjust {
        sku: usize,
        location: usize,
        delta: i64,
    },
    Transfer {
        sku: usize,
        from: usize,
        quantity: i64,
    },
    Book {
        order: usize,
        seconds: i64,
        status: OrderStatus,
        lines: Vec<(usize, [i64; 4])>,
    },
}

pub(crate) const POLICY_LISTINGS: [&str; 3] = ["single", "pack", "kit"];

pub(crate) fn policy_step() -> impl Strategy<Value = PolicyStep> {
    let place = (0..2_usize, 0..2_usize);
    let quantities = (0..4_i64, 0..2_i64, 0..3_i64, 0..2_i64).prop_map(
        |(ordered, cancelled, fulfilled, returned)| [ordered, cancelled, fulfilled, returned],
    );
    prop_oneof![
        3 => (place.clone(), 1..12_i64).prop_map(|((sku, location), quantity)| PolicyStep::Receive { sku, location, quantity }),
        1 => (place, -5..5_i64).prop_map(|((sku, location), delta)| PolicyStep::Adjust { sku, location, delta }),
        1 => (0..2_usize, 0..2_usize, 1..5_i64).prop_map(|(sku, from, quantity)| PolicyStep::Transfer { sku, from, quantity }),
        4 => (
            0..4_usize,
            0..4_i64,
            prop_oneof![Just(OrderStatus::Open), Just(OrderStatus::Cancelled), Just(OrderStatus::Fulfilled)],
            prop::collection::vec((0..3_usize, quantities), 1..3),
        )
            .prop_map(|(order, seconds, status, lines)| PolicyStep::Book { order, seconds, status, lines }),
    ]
}

pub(crate) fn random_policy() -> impl Strategy<Value = StockPolicy> {
    (
        0..4_u32,
        prop::option::of(20..=100_u8),
        prop::option::of(1..15_u32),
        0..3_u32,
        any::<bool>(),
    )
        .prop_map(
            |(safety_buffer, percentage, max_quantity, show_zero_below, restock_returns)| {
                StockPolicy {
                    locations: vec!["default".to_string()],
                    safety_buffer,
                    percentage,
                    max_quantity,
                    show_zero_below,
                    fixed_quantity: None,
                    restock_returns,
                }
            },
        )
}

pub(crate) async fn run_policy_steps(
    ledger: &Ledger,
    policy: StockPolicy,
    steps: Vec<PolicyStep>,
) -> Result<(), TestCaseError> {
    let case = uuid::Uuid::new_v4().simple().to_string();
    let channel = format!("c{case}");
    let skus: Vec<String> = (0..2).map(|index| format!("{case}-{index}")).collect();
    for sku in &skus {
        ledger.upsert_item(sku, "random").await.unwrap();
    }
    ledger.upsert_channel(&channel, "sim").await.unwrap();
    ledger.set_channel_policy(&channel, &policy).await.unwrap();
    let listing = |index: usize| format!("{case}-{}", POLICY_LISTINGS[index]);
    ledger
        .bind_listing(&channel, &listing(0), &skus[0], 1)
        .await
        .unwrap();
    ledger
        .bind_listing(&channel, &listing(1), &skus[0], 3)
        .await
        .unwrap();
    ledger
        .bind_bundle(
            &channel,
            &listing(2),
            &[
                ListingComponent::new(&skus[0], 1),
                ListingComponent::new(&skus[1], 2),
            ],
        )
        .await
        .unwrap();
    let per_unit: [Vec<(usize, i64)>; 3] = [vec![(0, 1)], vec![(0, 3)], vec![(0, 1), (1, 2)]];
    for (index, step) in steps.into_iter().enumerate() {
        let meta = MovementMeta::new(format!("{case}:{index}"));
        match step {
            PolicyStep::Receive {
                sku,
                location,
                quantity,
            } => {
                ledger
                    .receive(&skus[sku], LOCATIONS[location], quantity, &meta)
                    .await
                    .unwrap();
            }
            PolicyStep::Adjust {
                sku,
                location,
                delta,
            } => {
                // Refusals (zero, below zero on hand) are part of the game.
                let _ = ledger
                    .adjust(&skus[sku], LOCATIONS[location], delta, &meta)
                    .await;
            }
            PolicyStep::Transfer {
                sku,
                from,
                quantity,
            } => {
                let _ = ledger
                    .transfer(
                        &skus[sku],
                        LOCATIONS[from],
                        LOCATIONS[1 - from],
                        quantity,
                        &meta,
                    )
                    .await;
            }
            PolicyStep::Book {
                order,
                seconds,
                status,
                lines,
            } => {
                let lines = lines
                    .iter()
                    .enumerate()
                    .map(
                        |(
                            line_index,
                            (listing_index, [ordered, cancelled, fulfilled, returned]),
                        )| OrderLine {
                            line_id: format!("{line_index}"),
                            listing_id: Some(listing(*listing_index)),
                            sku: None,
                            quantity: *ordered,
                            cancelled_quantity: *cancelled,
                            fulfilled_quantity: *fulfilled,
                            returned_quantity: *returned,
                            unit_price_minor: None,
                        },
                    )
                    .collect();
                let event = OrderEvent {
                    external_order_id: format!("{case}-{order}"),
                    delivery_id: None,
                    status,
                    updated_at: at(seconds),
                    created_at: None,
                    currency: None,
                    total_minor: None,
                    location: None,
                    lines,
                };
                ledger
                    .book_order(&channel, LOCATIONS[order % 2], &event)
                    .await
                    .unwrap();
            }
        }
        let checked = ledger.check_invariants().await.unwrap();
        prop_assert_eq!(checked, Ok(()));
        let targets = ledger.push_targets(&channel, &skus, &policy).await.unwrap();
        prop_assert_eq!(targets.len(), 3);
        for target in targets {
            let listing_index = POLICY_LISTINGS
                .iter()
                .position(|name| target.listing_id.ends_with(name))
                .unwrap();
            prop_assert!(target.quantity >= 0);
            if let Some(max) = policy.max_quantity {
                prop_assert!(target.quantity <= i64::from(max));
            }
            for (sku, units) in &per_unit[listing_index] {
                // Only the policy's location feeds the channel.
                let available = ledger
                    .balance(&skus[*sku], "default")
                    .await
                    .unwrap()
                    .available();
                let allowed = (available - i64::from(policy.safety_buffer)).max(0)
                    * i64::from(policy.percentage.unwrap_or(100))
                    / 100
                    / units;
                prop_assert!(
                    target.quantity <= allowed,
                    "{} shows {} but {} allows {}",
                    target.listing_id,
                    target.quantity,
                    skus[*sku],
                    allowed
                );
            }
        }
    }
    Ok(())
}

pub(crate) fn random_interleavings_respect_the_policy(backend: TestBackend, count: u32) {
    run_property(
        backend,
        cases(count),
        (random_policy(), prop::collection::vec(policy_step(), 1..16)),
        |ledger| async move {
            ledger.upsert_location("east", "East").await.unwrap();
        },
        |ledger, (policy, steps)| async move { run_policy_steps(&ledger, policy, steps).await },
    );
}

pub(crate) const LOCATIONS: [&str; 2] = ["default", "east"];

#[derive(Debug, Clone)]
pub(crate) enum Operation {
    Receive {
        sku: usize,
        location: usize,
        quantity: i64,
    },
    Adjust {
        sku: usize,
        location: usize,
        delta: i64,
    },
    Count {
        sku: usize,
        location: usize,
        counted: i64,
    },
    Transfer {
        sku: usize,
        from: usize,
        quantity: i64,
    },
    Book {
        order: usize,
        seconds: i64,
        status: OrderStatus,
        lines: Vec<Option<[i64; 4]>>,
    },
    RepeatPrevious,
}

pub(crate) fn operation() -> impl Strategy<Value = Operation> {
    let place = (0..2_usize, 0..2_usize);
    let quantities = prop::option::weighted(0.7, [0..5_i64, 0..3_i64, 0..5_i64, 0..3_i64]);
    prop_oneof![
        2 => (place.clone(), 1..6_i64).prop_map(|((sku, location), quantity)| Operation::Receive {
            sku,
            location,
            quantity
        }),
        1 => (place.clone(), prop_oneof![-4..0_i64, 1..5_i64]).prop_map(|((sku, location), delta)| {
            Operation::Adjust {
                sku,
                location,
                delta,
            }
        }),
        1 => (place, 0..8_i64).prop_map(|((sku, location), counted)| Operation::Count {
            sku,
            location,
            counted
        }),
        1 => (0..2_usize, 0..2_usize, 1..4_i64).prop_map(|(sku, from, quantity)| Operation::Transfer {
            sku,
            from,
            quantity
        }),
        5 => (
            0..3_usize,
            0..5_i64,
            prop_oneof![
                Just(OrderStatus::Open),
                Just(OrderStatus::Cancelled),
                Just(OrderStatus::Fulfilled)
            ],
            prop::collection::vec(quantities, 2),
        )
            .prop_map(|(order, seconds, status, lines)| Operation::Book {
                order,
                seconds,
                status,
                lines
            }),
        1 => Just(Operation::RepeatPrevious),
    ]
}

/// What the ledger should hold: operator on-hand changes per (sku index, location index) plus,
/// per order, the time of its booked snapshot and its lines.
#[derive(Default)]
pub(crate) struct Model {
    operator_on_hand: BTreeMap<(usize, usize), i64>,
    orders: BTreeMap<usize, (i64, ModelLines)>,
    applied_keys: BTreeSet<String>,
    /// The rank of each order's booked status: at the same time, a less advanced status is stale.
    statuses: BTreeMap<usize, u8>,
    /// The ordered quantity each booked line last reported.
    ordered: BTreeMap<(usize, usize), i64>,
}

pub(crate) fn status_rank(status: OrderStatus) -> u8 {
    match status {
        OrderStatus::Open => 0,
        OrderStatus::Fulfilled => 1,
        OrderStatus::Cancelled => 2,
    }
}

impl Model {
    fn order_location(order: usize) -> usize {
        order % 2
    }

    fn on_hand(&self, sku: usize, location: usize) -> i64 {
        let mut on_hand = self
            .operator_on_hand
            .get(&(sku, location))
            .copied()
            .unwrap_or(0);
        for (order, (_, lines)) in &self.orders {
            if Self::order_location(*order) == location {
                if let Some((_, committed, returned)) = lines.get(&sku) {
                    on_hand += returned - committed;
                }
            }
        }
        on_hand
    }

    fn reserved(&self, sku: usize, location: usize) -> i64 {
        self.orders
            .iter()
            .filter(|(order, _)| Self::order_location(**order) == location)
            .filter_map(|(_, (_, lines))| lines.get(&sku).map(|(open, _, _)| *open))
            .sum()
    }
}

pub(crate) fn snapshot_line(sku: usize, quantities: [i64; 4], skus: &[String]) -> OrderLine {
    let [ordered, cancelled, fulfilled, returned] = quantities;
    OrderLine {
        line_id: format!("line-{sku}"),
        listing_id: None,
        sku: Some(skus[sku].clone()),
        quantity: ordered,
        cancelled_quantity: cancelled,
        fulfilled_quantity: fulfilled,
        returned_quantity: returned,
        unit_price_minor: None,
    }
}

pub(crate) async fn run_operations(
    ledger: &Ledger,
    operations: Vec<Operation>,
) -> Result<(), TestCaseError> {
    let case = uuid::Uuid::new_v4().simple().to_string();
    let skus: Vec<String> = (0..2).map(|index| format!("{case}-{index}")).collect();
    for sku in &skus {
        ledger.upsert_item(sku, "random").await.unwrap();
    }
    let mut model = Model::default();
    let mut previous: Option<(Operation, String)> = None;
    for (index, generated) in operations.into_iter().enumerate() {
        let (operation, key) = match (&generated, &previous) {
            (Operation::RepeatPrevious, Some(previous)) => previous.clone(),
            (Operation::RepeatPrevious, None) => continue,
            _ => (generated.clone(), format!("{case}:{index}")),
        };
        let meta = MovementMeta::new(key.clone());
        let seen = model.applied_keys.contains(&key);
        match &operation {
            Operation::Receive {
                sku,
                location,
                quantity,
            } => {
                let outcome = ledger
                    .receive(&skus[*sku], LOCATIONS[*location], *quantity, &meta)
                    .await
                    .unwrap();
                if !seen {
                    *model.operator_on_hand.entry((*sku, *location)).or_default() += quantity;
                }
                prop_assert_eq!(outcome.application == Application::AlreadyApplied, seen);
                model.applied_keys.insert(key.clone());
            }
            Operation::Adjust {
                sku,
                location,
                delta,
            } => {
                let result = ledger
                    .adjust(&skus[*sku], LOCATIONS[*location], *delta, &meta)
                    .await;
                if seen {
                    prop_assert_eq!(result.unwrap().application, Application::AlreadyApplied);
                } else if *delta < 0 && model.on_hand(*sku, *location) + delta < 0 {
                    let refused = matches!(result, Err(LedgerError::NegativeOnHand { .. }));
                    prop_assert!(refused, "expected a refusal");
                } else {
                    prop_assert_eq!(result.unwrap().application, Application::Applied);
                    *model.operator_on_hand.entry((*sku, *location)).or_default() += delta;
                    model.applied_keys.insert(key.clone());
                }
            }
            Operation::Count {
                sku,
                location,
                counted,
            } => {
                let outcome = ledger
                    .set_on_hand(&skus[*sku], LOCATIONS[*location], *counted, &meta)
                    .await
                    .unwrap();
                if !seen {
                    let delta = counted - model.on_hand(*sku, *location);
                    *model.operator_on_hand.entry((*sku, *location)).or_default() += delta;
                }
                prop_assert_eq!(outcome.application == Application::AlreadyApplied, seen);
                model.applied_keys.insert(key.clone());
            }
            Operation::Transfer {
                sku,
                from,
                quantity,
            } => {
                let to = 1 - from;
                let result = ledger
                    .transfer(
                        &skus[*sku],
                        LOCATIONS[*from],
                        LOCATIONS[to],
                        *quantity,
                        &meta,
                    )
                    .await;
                if seen {
                    prop_assert_eq!(result.unwrap().application, Application::AlreadyApplied);
                } else if model.on_hand(*sku, *from) - quantity < 0 {
                    let refused = matches!(result, Err(LedgerError::NegativeOnHand { .. }));
                    prop_assert!(refused, "expected a refusal");
                } else {
                    prop_assert_eq!(result.unwrap().application, Application::Applied);
                    *model.operator_on_hand.entry((*sku, *from)).or_default() -= quantity;
                    *model.operator_on_hand.entry((*sku, to)).or_default() += quantity;
                    model.applied_keys.insert(key.clone());
                }
            }
            Operation::Book {
                order,
                seconds,
                status,
                lines,
            } => {
                let snapshot: Vec<OrderLine> = lines
                    .iter()
                    .enumerate()
                    .filter_map(|(sku, quantities)| {
                        quantities.map(|q| snapshot_line(sku, q, &skus))
                    })
                    .collect();
                let event = OrderEvent {
                    external_order_id: format!("{case}-order-{order}"),
                    delivery_id: None,
                    status: *status,
                    updated_at: at(*seconds),
                    created_at: None,
                    currency: None,
                    total_minor: None,
                    location: None,
                    lines: snapshot.clone(),
                };
                let outcome = ledger
                    .book_order(CHANNEL, LOCATIONS[Model::order_location(*order)], &event)
                    .await
                    .unwrap();
                let booked = model.orders.get(order).map(|(time, _)| *time);
                let booked_rank = model.statuses.get(order).copied().unwrap_or(0);
                let stale = booked.is_some_and(|time| {
                    *seconds < time || (*seconds == time && status_rank(*status) < booked_rank)
                });
                if stale {
                    prop_assert_eq!(outcome.result, BookingResult::Stale);
                } else {
                    prop_assert_ne!(outcome.result, BookingResult::Stale);
                    let same_stamp = booked == Some(*seconds);
                    let entry = model
                        .orders
                        .entry(*order)
                        .or_insert_with(|| (*seconds, BTreeMap::new()));
                    entry.0 = *seconds;
                    model.statuses.insert(*order, status_rank(*status));
                    let previous = entry.1.clone();
                    for (_, (open, _, _)) in entry.1.iter_mut() {
                        *open = 0;
                    }
                    for (sku, quantities) in lines.iter().enumerate() {
                        if let Some(quantities) = quantities {
                            let mut state =
                                snapshot_line(sku, *quantities, &skus).target_state(*status);
                            // Within one stamp a line's progress never goes back (the ledger's
                            // `without_regression`), for a line of the same ordered quantity.
                            let same_line =
                                model.ordered.get(&(*order, sku)) == Some(&quantities[0]);
                            if let (true, true, Some((open, committed, returned))) =
                                (same_stamp, same_line, previous.get(&sku))
                            {
                                let merged_committed = state.committed.max(*committed);
                                state.returned =
                                    state.returned.max(*returned).min(merged_committed);
                                state.open = (open + committed - merged_committed)
                                    .min(state.open + state.committed - merged_committed)
                                    .max(0);
                                state.committed = merged_committed;
                            }
                            model.ordered.insert((*order, sku), quantities[0]);
                            entry
                                .1
                                .insert(sku, (state.open, state.committed, state.returned));
                        }
                    }
                }
            }
            Operation::RepeatPrevious => unreachable!("replaced by the previous operation"),
        }
        previous = Some((operation, key));
    }
    for (sku, sku_name) in skus.iter().enumerate() {
        for (location, location_name) in LOCATIONS.iter().enumerate() {
            let balance = ledger.balance(sku_name, location_name).await.unwrap();
            prop_assert_eq!(
                (balance.on_hand, balance.reserved),
                (model.on_hand(sku, location), model.reserved(sku, location)),
                "sku {} at {}",
                sku,
                location_name
            );
        }
    }
    let checked = ledger.check_invariants().await.unwrap();
    prop_assert_eq!(checked, Ok(()));
    Ok(())
}

pub(crate) fn random_operations_match_the_model(backend: TestBackend, count: u32) {
    run_property(
        backend,
        cases(count),
        prop::collection::vec(operation(), 1..32),
        |ledger| async move {
            ledger.upsert_location("east", "East").await.unwrap();
            ledger.upsert_channel(CHANNEL, "sim").await.unwrap();
        },
        |ledger, operations| async move { run_operations(&ledger, operations).await },
    );
}

/// A listing's overrides of the channel's policy, any rule possibly set.
fn random_listing_policy() -> impl Strategy<Value = ListingPolicy> {
    (
        prop::option::of(prop::sample::select(vec![
            vec![],
            vec!["default".to_string()],
            vec!["east".to_string()],
        ])),
        prop::option::of(0..5_u32),
        prop::option::of(0..=100_u8),
        prop::option::of(0..12_u32),
        prop::option::of(0..4_u32),
        prop::option::of(prop::option::weighted(0.1, 0..9_u32)),
    )
        .prop_map(
            |(locations, safety_buffer, percentage, max_quantity, show_zero_below, fixed)| {
                ListingPolicy {
                    locations,
                    safety_buffer,
                    percentage,
                    max_quantity,
                    show_zero_below,
                    fixed_quantity: fixed.flatten(),
                }
            },
        )
}

/// One case: stock of two items at two locations, a single, a multipack and a bundle listing
/// with their overrides, the channel's policy.
#[derive(Debug, Clone)]
struct ExplainCase {
    on_hand: [[i64; 2]; 2],
    pack_size: i64,
    channel_locations: Vec<String>,
    channel_policy: StockPolicy,
    overrides: [ListingPolicy; 3],
}

fn explain_case() -> impl Strategy<Value = ExplainCase> {
    (
        prop::array::uniform2(prop::array::uniform2(0..25_i64)),
        2..7_i64,
        prop::sample::select(vec![
            vec![],
            vec!["default".to_string()],
            vec!["east".to_string()],
        ]),
        random_policy(),
        prop::array::uniform3(random_listing_policy()),
    )
        .prop_map(
            |(on_hand, pack_size, channel_locations, channel_policy, overrides)| ExplainCase {
                on_hand,
                pack_size,
                channel_locations,
                channel_policy,
                overrides,
            },
        )
}

/// What the explanation of each listing says it shows is what the pusher sends.
async fn explanation_matches_push_targets(
    ledger: &Ledger,
    case: ExplainCase,
) -> Result<(), TestCaseError> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let skus = [format!("X{run}"), format!("Y{run}")];
    for (sku, per_location) in skus.iter().zip(case.on_hand) {
        ledger.upsert_item(sku, sku).await.unwrap();
        for (location, on_hand) in LOCATIONS.iter().zip(per_location) {
            ledger
                .set_on_hand(
                    sku,
                    location,
                    on_hand,
                    &MovementMeta::new(format!("{run}-{sku}-{location}")),
                )
                .await
                .unwrap();
        }
    }
    let listings = [
        format!("single-{run}"),
        format!("pack-{run}"),
        format!("kit-{run}"),
    ];
    ledger
        .bind_listing(CHANNEL, &listings[0], &skus[0], 1)
        .await
        .unwrap();
    ledger
        .bind_listing(CHANNEL, &listings[1], &skus[0], case.pack_size)
        .await
        .unwrap();
    ledger
        .bind_bundle(
            CHANNEL,
            &listings[2],
            &[
                ListingComponent::new(&skus[0], 1),
                ListingComponent::new(&skus[1], 2),
            ],
        )
        .await
        .unwrap();
    for (listing, policy) in listings.iter().zip(&case.overrides) {
        ledger
            .set_listing_policy(CHANNEL, listing, policy)
            .await
            .unwrap();
    }
    let mut policy = case.channel_policy.clone();
    policy.locations = case.channel_locations.clone();

    for sku in &skus {
        let pushed: BTreeMap<String, i64> = ledger
            .push_targets(CHANNEL, std::slice::from_ref(sku), &policy)
            .await
            .unwrap()
            .into_iter()
            .map(|target| (target.listing_id, target.quantity))
            .collect();
        let explained: BTreeMap<String, i64> =
            omnistock::ops::explain::explain_listings(ledger, CHANNEL, &policy, sku)
                .await
                .unwrap()
                .into_iter()
                .map(|listing| (listing.listing_id, listing.quantity))
                .collect();
        prop_assert!(!pushed.is_empty());
        prop_assert_eq!(&explained, &pushed, "{} under {:?}", sku, case);
    }
    Ok(())
}

fn explanations_equal_what_a_push_sends(backend: TestBackend, count: u32) {
    run_property(
        backend,
        cases(count),
        explain_case(),
        |ledger| async move {
            ledger.upsert_location("east", "East").await.unwrap();
            ledger.upsert_channel(CHANNEL, "sim").await.unwrap();
        },
        |ledger, case| async move { explanation_matches_push_targets(&ledger, case).await },
    );
}

#[test]
fn explanations_equal_what_a_push_sends_on_sqlite() {
    explanations_equal_what_a_push_sends(TestBackend::Sqlite, 32);
}

#[test]
fn explanations_equal_what_a_push_sends_on_postgres() {
    explanations_equal_what_a_push_sends(TestBackend::Postgres, 12);
}
