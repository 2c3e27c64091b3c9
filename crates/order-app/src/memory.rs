//! An in-memory [`OrderPlatform`], for tests and for embedders who want to try the use cases
//! without a platform. Not durable. (For a journal without a file, use
//! `order_journal::SqliteJournal::in_memory()`: the same rules as the journal on disk.)

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use order_domain::{
    Order, OrderId, OrderPlatform, Plan, PlatformError, PlatformErrorKind, Policy, Receipt,
};

/// An [`OrderPlatform`] in memory: holds orders, checks every plan against its policy (as the
/// platform would), applies it with [`Order::with_revision`] and counts applied changes.
///
/// Orders it does not hold yet are taken from the snapshot of the first plan that names them,
/// so a batch works without seeding; [`MemoryPlatform::order`] shows the state afterwards.
#[derive(Debug)]
pub struct MemoryPlatform {
    name: String,
    policy: Policy,
    orders: Mutex<HashMap<OrderId, (Order, u64)>>,
    failures: Mutex<Vec<PlatformError>>,
}

impl MemoryPlatform {
    /// A platform named after `policy`.
    pub fn new(policy: Policy) -> Self {
        MemoryPlatform {
            name: policy.name.to_string(),
            policy,
            orders: Mutex::new(HashMap::new()),
            failures: Mutex::new(Vec::new()),
        }
    }

    /// Makes the next `apply` calls fail with these errors, in order.
    pub fn fail_next(&self, errors: impl IntoIterator<Item = PlatformError>) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(errors);
    }

    /// The order as the platform holds it now, and how many changes were applied to it.
    pub fn order(&self, id: &OrderId) -> Option<(Order, u64)> {
        self.orders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }
}

#[async_trait]
impl OrderPlatform for MemoryPlatform {
    fn name(&self) -> &str {
        &self.name
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    async fn apply(&self, order: &Order, plan: &Plan) -> Result<Receipt, PlatformError> {
        {
            let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
            if !f.is_empty() {
                return Err(f.remove(0));
            }
        }
        let mut orders = self.orders.lock().unwrap_or_else(|e| e.into_inner());
        let entry = orders
            .entry(order.id().clone())
            .or_insert_with(|| (order.clone(), 0));
        // Re-plan against the platform's own state, as a real platform checks its rules.
        let target = order_domain::Amendment {
            lines: plan
                .named_lines()
                .map(|l| {
                    (
                        l.line().clone(),
                        order_domain::Amount::new(l.target().amount())
                            .unwrap_or(order_domain::Amount::ZERO),
                    )
                })
                .collect(),
            ..order_domain::Amendment::default()
        };
        if !target.lines.is_empty()
            && let Err(r) = order_domain::plan(&entry.0, &target, &self.policy)
        {
            return Err(PlatformError::new(
                PlatformErrorKind::RejectedByRule,
                Some("memory.rule".into()),
                r.to_string(),
            ));
        }
        entry.0 = entry.0.with_revision(plan, None);
        entry.1 += 1;
        Ok(Receipt::new(format!(
            "{{\"ok\":true,\"order\":\"{}\",\"revision\":{}}}",
            order.id(),
            entry.0.revision().count
        )))
    }
}
