//! Starts every platform emulator, prints each base URL and its test credentials, and runs
//! until Ctrl-C. Built with the `cli` feature (`cargo run -p order-sandbox --features cli`), so
//! the library does not pull `clap`; `ordermod sandbox` serves the same emulators.

use clap::Parser;
use order_sandbox::{
    ChannelsSettings, EmSettings, IcbuSettings, Open1688Settings, Sandbox, VvtoolSettings,
    WechatSettings,
};

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    name = "order-sandbox",
    about = "Runs HTTP emulators of WeChat Shop, WeChat Channels, vv-tool (1688), the 1688 open platform, EM franchiser and Alibaba.com ICBU"
)]
struct Args {
    /// Seed of the random fault generators.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Port of the WeChat Shop emulator (0 = any free port).
    #[arg(long, default_value_t = 0)]
    wechat_port: u16,
    /// Port of the vv-tool emulator (0 = any free port).
    #[arg(long, default_value_t = 0)]
    vvtool_port: u16,
    /// Port of the EM franchiser emulator (0 = any free port).
    #[arg(long, default_value_t = 0)]
    em_port: u16,
    /// Port of the Alibaba.com ICBU emulator (0 = any free port).
    #[arg(long, default_value_t = 0)]
    icbu_port: u16,
    /// Port of the WeChat Channels emulator (0 = any free port).
    #[arg(long, default_value_t = 0)]
    channels_port: u16,
    /// Port of the 1688 open platform emulator (0 = any free port).
    #[arg(long, default_value_t = 0)]
    open1688_port: u16,
    /// Lift every rate limit.
    #[arg(long)]
    no_rate_limit: bool,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let mut wechat = WechatSettings {
        port: args.wechat_port,
        ..WechatSettings::default()
    };
    let mut vvtool = VvtoolSettings {
        port: args.vvtool_port,
        ..VvtoolSettings::default()
    };
    let mut em = EmSettings {
        port: args.em_port,
        ..EmSettings::default()
    };
    let mut icbu = IcbuSettings {
        port: args.icbu_port,
        ..IcbuSettings::default()
    };
    let mut channels = ChannelsSettings {
        port: args.channels_port,
        ..ChannelsSettings::default()
    };
    let mut open1688 = Open1688Settings {
        port: args.open1688_port,
        ..Open1688Settings::default()
    };
    if args.no_rate_limit {
        channels.rate_limit_per_second = None;
        open1688.rate_limit_per_second = None;
        wechat.rate_limit_per_second = None;
        vvtool.rate_limit_per_second = None;
        em.rate_limit_per_second = None;
        icbu.rate_limit_per_second = None;
    }
    let creds_wechat: Vec<String> = wechat
        .apps
        .iter()
        .map(|a| {
            format!(
                "appid={} secret={} permitted={}",
                a.appid, a.secret, a.permitted
            )
        })
        .collect();
    let creds_vv: Vec<String> = vvtool
        .tokens
        .iter()
        .map(|t| format!("token={} shops={}", t.token, t.shops.join(",")))
        .collect();
    let creds_em: Vec<String> = em
        .apps
        .iter()
        .map(|a| format!("appid={} secret={}", a.appid, a.secret))
        .collect();
    let creds_icbu: Vec<String> = icbu
        .apps
        .iter()
        .map(|a| {
            format!(
                "app_key={} secret={} sessions={}",
                a.app_key,
                a.secret,
                a.sessions.join(",")
            )
        })
        .collect();
    let creds_channels: Vec<String> = channels
        .apps
        .iter()
        .map(|a| {
            format!(
                "appid={} secret={} permitted={}",
                a.appid, a.secret, a.permitted
            )
        })
        .collect();
    let creds_1688: Vec<String> = open1688
        .apps
        .iter()
        .map(|a| {
            format!(
                "app_key={} secret={} access_tokens={}",
                a.app_key,
                a.secret,
                a.tokens.join(",")
            )
        })
        .collect();
    let sb = Sandbox::builder()
        .seed(args.seed)
        .wechat(wechat)
        .vvtool(vvtool)
        .em(em)
        .icbu(icbu)
        .channels(channels)
        .open1688(open1688)
        .start()
        .await?;
    let rows = [
        ("wechat", sb.wechat().map(|e| e.base_url()), creds_wechat),
        ("vvtool", sb.vvtool().map(|e| e.base_url()), creds_vv),
        ("em", sb.em().map(|e| e.base_url()), creds_em),
        ("icbu", sb.icbu().map(|e| e.base_url()), creds_icbu),
        (
            "channels",
            sb.channels().map(|e| e.base_url()),
            creds_channels,
        ),
        ("1688", sb.open1688().map(|e| e.base_url()), creds_1688),
    ];
    for (name, url, creds) in rows {
        println!("{name:<9} {}", url.unwrap_or_default());
        for c in creds {
            println!("          {c}");
        }
    }
    println!(
        "admin: /__admin/orders, /__admin/orders/{{id}}, /__admin/stats, /__admin/calls, /__admin/faults"
    );
    println!("press Ctrl-C to stop");
    tokio::signal::ctrl_c().await?;
    drop(sb);
    Ok(())
}
