//! Access tokens: the WeChat token machinery shared with the other WeChat transports lives in
//! [`transport_core::wechat_token`]; this module re-exports it under its old names.

pub use transport_core::wechat_token::{
    AppSecretTokenSource, StaticToken, TOKEN_PATH, TokenEndpoint, TokenSource, TokenSources,
};
