//! Policies: what one platform operation accepts, as data.
//!
//! A [`Policy`] is read by [`plan`](crate::plan::plan); nothing platform-specific is hard-coded
//! in the planner, and no platform's policy lives here: each transport crate transcribes its
//! platform's documents (`docs/platforms/*.md`) into a `policy()` function, starting from
//! [`Policy::permissive`] and the `with_*` builders. A policy is configuration data: its fields
//! are public to read and adjust, and it holds no state of an order.
//!
//! ```
//! use order_domain::{AddressField, Part, Policy, PriceDirection};
//!
//! let policy = Policy::permissive("my-platform")
//!     .with_changeable([Part::LinePrices, Part::Address])
//!     .with_price_direction(PriceDirection::LowerOnly)
//!     .with_address_required([AddressField::Receiver, AddressField::Street]);
//! assert!(policy.can_change(Part::Address));
//! assert!(!policy.can_change(Part::Freight));
//! ```

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;

use crate::amendment::Part;
use crate::order::OrderStatus;

/// Whether prices may go up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceDirection {
    /// A line or freight may not end above its original amount.
    LowerOnly,
    /// Any non-negative amount.
    Any,
}

/// How the platform expresses a line's new price on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinePriceForm {
    /// The line's new total (WeChat Shop `change_price`).
    AbsoluteLineTotal,
    /// A signed amount against the line's original total, replacing earlier ones
    /// (1688 `entry_discounts[].discount`).
    SignedDeltaAgainstOriginal,
    /// A unit price per item (ICBU `unit_price_str`).
    UnitPrice,
}

/// What the platform does with the open lines a price change leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnnamedLines {
    /// A line left out keeps its current price.
    KeptByPlatform,
    /// A line left out loses earlier changes (a new revision voids the earlier ones, or a
    /// discount replaces the earlier discounts), so every line whose current total differs
    /// from its original is restated with its current total in every price change.
    Restate,
}

/// Transport ways and the logistics companies each accepts (EM franchiser).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogisticsRules {
    /// Valid transport ways (EM: 1 to 5).
    pub ways: Vec<u8>,
    /// Ways that require a company, with the companies each accepts. Other ways take none.
    pub companies: Vec<(u8, Vec<u32>)>,
}

impl LogisticsRules {
    /// Companies allowed for `way`, when the way requires one.
    pub fn companies_for(&self, way: u8) -> Option<&[u32]> {
        self.companies
            .iter()
            .find(|(w, _)| *w == way)
            .map(|(_, c)| c.as_slice())
    }
}

/// Declares a field-name enum whose text form is its serde name.
macro_rules! field_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// The field's name as violations show it, e.g. `zip`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

field_enum! {
    /// An address field a policy can require.
    AddressField {
        /// The receiver's name.
        Receiver => "receiver",
        /// A mobile number.
        Mobile => "mobile",
        /// A telephone with at least its number.
        Telephone => "telephone",
        /// The country.
        Country => "country",
        /// The province or state.
        Province => "province",
        /// The city.
        City => "city",
        /// The district.
        District => "district",
        /// The street address.
        Street => "street",
        /// The postal code.
        Zip => "zip",
    }
}

field_enum! {
    /// A logistics field a policy can require.
    LogisticsField {
        /// The shipment method.
        ShipmentMethod => "shipment_method",
        /// The trade term (FOB, CIF, ...).
        TradeTerm => "trade_term",
        /// The shipment date.
        ShipmentDate => "shipment_date",
        /// The carrier.
        Carrier => "carrier",
        /// The warehouse.
        Warehouse => "warehouse",
        /// The transport way.
        TransportWay => "transport_way",
    }
}

field_enum! {
    /// An item field a policy can require.
    ItemField {
        /// The item's name.
        Name => "name",
        /// The unit of measure.
        Unit => "unit",
        /// The unit price.
        UnitPrice => "unit_price",
        /// The SKU.
        Sku => "sku",
    }
}

/// One platform operation's rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Policy {
    /// Platform operation name, e.g. `wechat-shop`.
    pub name: Cow<'static, str>,
    /// Parts this operation can change; any other part in an amendment is a violation.
    pub changeable: Vec<Part>,
    /// Parts the wire request must always carry in full (ICBU sends the whole logistics,
    /// payment and product list every time); the plan resolves them from the amendment or the
    /// order snapshot.
    pub always_sent: Vec<Part>,
    /// Price direction for lines and freight, judged against the originals.
    pub price_direction: PriceDirection,
    /// Whether the order total may become zero.
    pub zero_total_allowed: bool,
    /// How line prices travel on the wire.
    pub line_price_form: LinePriceForm,
    /// What the platform does with open lines a price change leaves out.
    pub unnamed_lines: UnnamedLines,
    /// Maximum number of revisions (WeChat Shop: 50 before payment).
    pub revision_limit: Option<u32>,
    /// Statuses in which changes are accepted; `None` means any status except closed.
    pub allowed_statuses: Option<Vec<OrderStatus>>,
    /// Trade types in which changes are accepted (1688: 6, 8, 9, 10); `None` means any.
    pub allowed_trade_types: Option<Vec<Cow<'static, str>>>,
    /// Closed lines cannot be named and are left out of requests.
    pub closed_lines_excluded: bool,
    /// Province, city and district must be given together or not at all (EM).
    pub address_region_all_or_nothing: bool,
    /// Address fields that must be present whenever an address is sent.
    pub address_required: Vec<AddressField>,
    /// Logistics rules (EM transport ways and companies).
    pub logistics_rules: Option<LogisticsRules>,
    /// Logistics fields that must be present whenever logistics are sent.
    pub logistics_required: Vec<LogisticsField>,
    /// The item list replaces the old one and must not be empty.
    pub items_full_replacement: bool,
    /// Quantities must be whole numbers (EM).
    pub whole_quantities: bool,
    /// Item fields that must be present (ICBU: name, unit, unit price).
    pub item_required: Vec<ItemField>,
    /// The payment breakdown must add up (ICBU).
    pub payment_must_add_up: bool,
    /// The order's version token must be known and is carried in the request.
    pub version_token_required: bool,
}

impl Policy {
    /// A policy that changes nothing until fields are set: every part unchangeable, any
    /// direction, no limits. A starting point for a custom platform.
    pub fn permissive(name: impl Into<Cow<'static, str>>) -> Policy {
        Policy {
            name: name.into(),
            changeable: Vec::new(),
            always_sent: Vec::new(),
            price_direction: PriceDirection::Any,
            zero_total_allowed: true,
            line_price_form: LinePriceForm::AbsoluteLineTotal,
            unnamed_lines: UnnamedLines::KeptByPlatform,
            revision_limit: None,
            allowed_statuses: None,
            allowed_trade_types: None,
            closed_lines_excluded: true,
            address_region_all_or_nothing: false,
            address_required: Vec::new(),
            logistics_rules: None,
            logistics_required: Vec::new(),
            items_full_replacement: false,
            whole_quantities: false,
            item_required: Vec::new(),
            payment_must_add_up: false,
            version_token_required: false,
        }
    }

    /// The same rules under another name (one platform's rules reached through another
    /// operation, such as 1688's through vv-tool).
    pub fn with_name(self, name: impl Into<Cow<'static, str>>) -> Policy {
        Policy {
            name: name.into(),
            ..self
        }
    }

    /// The parts this operation can change.
    pub fn with_changeable(self, parts: impl IntoIterator<Item = Part>) -> Policy {
        Policy {
            changeable: parts.into_iter().collect(),
            ..self
        }
    }

    /// The parts every request carries in full.
    pub fn with_always_sent(self, parts: impl IntoIterator<Item = Part>) -> Policy {
        Policy {
            always_sent: parts.into_iter().collect(),
            ..self
        }
    }

    /// The price direction for lines and freight.
    pub fn with_price_direction(self, price_direction: PriceDirection) -> Policy {
        Policy {
            price_direction,
            ..self
        }
    }

    /// Whether the order total may become zero.
    pub fn with_zero_total_allowed(self, zero_total_allowed: bool) -> Policy {
        Policy {
            zero_total_allowed,
            ..self
        }
    }

    /// How line prices travel on the wire.
    pub fn with_line_price_form(self, line_price_form: LinePriceForm) -> Policy {
        Policy {
            line_price_form,
            ..self
        }
    }

    /// What the platform does with open lines a price change leaves out.
    pub fn with_unnamed_lines(self, unnamed_lines: UnnamedLines) -> Policy {
        Policy {
            unnamed_lines,
            ..self
        }
    }

    /// The most revisions an order may have.
    pub fn with_revision_limit(self, limit: u32) -> Policy {
        Policy {
            revision_limit: Some(limit),
            ..self
        }
    }

    /// The statuses in which changes are accepted.
    pub fn with_allowed_statuses(self, statuses: impl IntoIterator<Item = OrderStatus>) -> Policy {
        Policy {
            allowed_statuses: Some(statuses.into_iter().collect()),
            ..self
        }
    }

    /// The trade types in which changes are accepted.
    pub fn with_allowed_trade_types<T: Into<Cow<'static, str>>>(
        self,
        types: impl IntoIterator<Item = T>,
    ) -> Policy {
        Policy {
            allowed_trade_types: Some(types.into_iter().map(Into::into).collect()),
            ..self
        }
    }

    /// Whether closed lines are refused and left out of requests.
    pub fn with_closed_lines_excluded(self, closed_lines_excluded: bool) -> Policy {
        Policy {
            closed_lines_excluded,
            ..self
        }
    }

    /// Whether province, city and district must be given together.
    pub fn with_address_region_all_or_nothing(self, all_or_nothing: bool) -> Policy {
        Policy {
            address_region_all_or_nothing: all_or_nothing,
            ..self
        }
    }

    /// The address fields every sent address must have.
    pub fn with_address_required(self, fields: impl IntoIterator<Item = AddressField>) -> Policy {
        Policy {
            address_required: fields.into_iter().collect(),
            ..self
        }
    }

    /// The transport ways and their companies.
    pub fn with_logistics_rules(self, rules: LogisticsRules) -> Policy {
        Policy {
            logistics_rules: Some(rules),
            ..self
        }
    }

    /// The logistics fields every sent logistics must have.
    pub fn with_logistics_required(
        self,
        fields: impl IntoIterator<Item = LogisticsField>,
    ) -> Policy {
        Policy {
            logistics_required: fields.into_iter().collect(),
            ..self
        }
    }

    /// Whether the item list replaces the old one (and must not be empty).
    pub fn with_items_full_replacement(self, full_replacement: bool) -> Policy {
        Policy {
            items_full_replacement: full_replacement,
            ..self
        }
    }

    /// Whether quantities must be whole numbers.
    pub fn with_whole_quantities(self, whole_quantities: bool) -> Policy {
        Policy {
            whole_quantities,
            ..self
        }
    }

    /// The item fields every sent item must have.
    pub fn with_item_required(self, fields: impl IntoIterator<Item = ItemField>) -> Policy {
        Policy {
            item_required: fields.into_iter().collect(),
            ..self
        }
    }

    /// Whether the payment breakdown must add up.
    pub fn with_payment_must_add_up(self, must_add_up: bool) -> Policy {
        Policy {
            payment_must_add_up: must_add_up,
            ..self
        }
    }

    /// Whether the order's version token must be known.
    pub fn with_version_token_required(self, required: bool) -> Policy {
        Policy {
            version_token_required: required,
            ..self
        }
    }

    /// Whether `part` can be changed.
    pub fn can_change(&self, part: Part) -> bool {
        self.changeable.contains(&part)
    }
}
