//! The policy of 1688's modify-price operation reached through the open platform: 1688's rules,
//! defined once in `rules-1688` and shared with `transport-vvtool`, under this operation's name.

use order_domain::Policy;

/// 1688's modify-price rules ([`rules_1688::policy`]) named `alibaba-1688`.
pub fn policy() -> Policy {
    rules_1688::policy().with_name("alibaba-1688")
}
