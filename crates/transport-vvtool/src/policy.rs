//! The policy of 1688's modify-price operation reached through vv-tool: 1688's rules, defined
//! once in `rules-1688`, under this operation's name.

use order_domain::Policy;

/// 1688's modify-price rules ([`rules_1688::policy`]) named `vvtool-1688`.
pub fn policy() -> Policy {
    rules_1688::policy().with_name("vvtool-1688")
}
