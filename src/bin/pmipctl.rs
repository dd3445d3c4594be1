//! `pmipctl`: inspect and drive a running pmipgw over its management socket. Thin by design: the requests, the
//! client and the table formatting live in `controlplane::api`.
//!
//! Exit status: 0 done, 1 the gateway refused the request (the reason is printed), 2 bad command line,
//! 3 no gateway to talk to.

use clap::{Args, Parser, Subcommand, ValueEnum};
use controlplane::api::{self, Client, PdnCreate, PdnType, Request, Response, Selector};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(name = "pmipctl", version, about = "Inspect and drive a running pmipgw (PMIPv6 MAG / LMA) gateway")]
struct Cli {
    /// Management socket of the gateway.
    #[arg(long, global = true, default_value = api::DEFAULT_SOCKET, value_name = "PATH")]
    socket: PathBuf,
    /// Print the gateway's JSON reply (for scripts) instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// Seconds to wait for the reply (a `pdn create` waits for the PBA and its retransmissions).
    #[arg(long, global = true, default_value_t = 120, value_name = "SECONDS")]
    timeout: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List bindings (BCEs on an LMA, PDN connections on a MAG), or show those of an MN-ID or a GRE key.
    Bindings(SelectorArgs),
    /// Signalling counters by message type and status, events, and the data plane's ports, workers and drops.
    Stats,
    /// Heartbeat state of each peer and its restart counter.
    Peers,
    /// The gateway's ARP / NDP neighbour caches: next hops, tunnel peers and UEs, with their state.
    Neighbours,
    /// The durable binding state: journal path and size, bindings restored at the last start, commit figures.
    State,
    /// Each worker's packets, the keys it owns and how busy it is (since the last look); how each port steers
    /// tunnels to the workers.
    Workers,
    /// MAG: create or delete a PDN connection.
    #[command(subcommand)]
    Pdn(PdnCommand),
    /// LMA: revoke bindings (Binding Revocation Indication to their MAG).
    #[command(subcommand)]
    Binding(BindingCommand),
    /// LMA: reserve an uplink GRE key for a PDN connection (TS 29.275 §6.3), release or list reservations.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Args, Default)]
struct SelectorArgs {
    /// MN-ID (NAI).
    #[arg(long)]
    mn_id: Option<String>,
    /// APN (with --mn-id).
    #[arg(long)]
    apn: Option<String>,
    /// PDN Connection ID (with --mn-id).
    #[arg(long)]
    pdn_connection_id: Option<u8>,
    /// A GRE key of the binding, uplink or downlink (decimal or 0x-hex).
    #[arg(long, value_parser = parse_key)]
    key: Option<u32>,
}

impl From<SelectorArgs> for Selector {
    fn from(a: SelectorArgs) -> Self {
        Selector { mn_id: a.mn_id, apn: a.apn, pdn_connection_id: a.pdn_connection_id, key: a.key }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PdnTypeArg {
    Ipv4,
    Ipv6,
    Ipv4v6,
}

#[derive(Debug, Subcommand)]
enum PdnCommand {
    /// Create a PDN connection: PBU to the LMA, waits for the PBA.
    Create {
        #[arg(long)]
        mn_id: String,
        #[arg(long)]
        apn: String,
        #[arg(long, value_enum)]
        pdn_type: PdnTypeArg,
        /// LMA address (IPv6 LMAA or IPv4-LMAA).
        #[arg(long)]
        lma: IpAddr,
        /// Access Technology Type (8 = E-UTRAN).
        #[arg(long, default_value_t = 8)]
        att: u8,
        /// UE MAC, sent as the MN Link-layer Identifier.
        #[arg(long)]
        ue_mac: Option<String>,
        /// Uplink GRE key already known from the MME (uplink forwarding starts at once).
        #[arg(long, value_parser = parse_key)]
        uplink_key: Option<u32>,
        #[arg(long)]
        pdn_connection_id: Option<u8>,
        /// Handoff Indicator: 1 new attachment (default); 2, 3 or 4 to take the PDN connection over after a handover.
        #[arg(long)]
        handoff: Option<u8>,
        /// Home network prefix already assigned (handover).
        #[arg(long)]
        home_prefix: Option<Ipv6Addr>,
        /// IPv4 home address already assigned (handover).
        #[arg(long)]
        ipv4_home_address: Option<Ipv4Addr>,
        /// Return once the PBU is sent instead of waiting for the PBA.
        #[arg(long)]
        no_wait: bool,
    },
    /// Delete a PDN connection: de-registration PBU. With --only, release just one family of an ipv4v6
    /// connection and keep the other (selective de-registration).
    Delete {
        #[arg(long)]
        mn_id: String,
        #[arg(long)]
        apn: String,
        #[arg(long)]
        pdn_connection_id: Option<u8>,
        /// ipv4 or ipv6: the family to release.
        #[arg(long, value_enum)]
        only: Option<PdnTypeArg>,
    },
}

#[derive(Debug, Subcommand)]
enum BindingCommand {
    /// Revoke the bindings an MN-ID (optionally APN / PDN Connection ID) or a GRE key names.
    Revoke {
        #[command(flatten)]
        selector: SelectorArgs,
        /// Revocation trigger (RFC 5846): 1 administrative reason (default), 5 user-initiated, 6 access network.
        #[arg(long)]
        trigger: Option<u8>,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Reserve an uplink GRE key value for one PDN connection.
    Reserve {
        #[arg(long, value_parser = parse_key)]
        key: u32,
        #[arg(long)]
        mn_id: String,
        #[arg(long)]
        apn: String,
        #[arg(long)]
        pdn_connection_id: Option<u8>,
    },
    /// Release a reservation no binding uses.
    Release {
        #[arg(long, value_parser = parse_key)]
        key: u32,
    },
    /// List the reservations.
    List,
}

/// A GRE key in decimal or `0x` hexadecimal.
fn parse_key(text: &str) -> Result<u32, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| format!("{text:?} is not a 32-bit GRE key (decimal or 0x-hex)"))
}

fn request(command: Command) -> Request {
    match command {
        Command::Bindings(s) => Request::Bindings { selector: s.into() },
        Command::Stats => Request::Stats,
        Command::Peers => Request::Peers,
        Command::Neighbours => Request::Neighbours,
        Command::State => Request::State,
        Command::Workers => Request::Workers,
        Command::Pdn(PdnCommand::Create {
            mn_id,
            apn,
            pdn_type,
            lma,
            att,
            ue_mac,
            uplink_key,
            pdn_connection_id,
            handoff,
            home_prefix,
            ipv4_home_address,
            no_wait,
        }) => Request::PdnCreate(PdnCreate {
            mn_id,
            apn,
            att,
            pdn_type: match pdn_type {
                PdnTypeArg::Ipv4 => PdnType::Ipv4,
                PdnTypeArg::Ipv6 => PdnType::Ipv6,
                PdnTypeArg::Ipv4v6 => PdnType::Ipv4v6,
            },
            lma,
            ue_mac,
            uplink_key,
            pdn_connection_id,
            handoff,
            home_prefix,
            ipv4_home_address,
            wait: !no_wait,
        }),
        Command::Pdn(PdnCommand::Delete { mn_id, apn, pdn_connection_id, only }) => Request::PdnDelete {
            mn_id,
            apn,
            pdn_connection_id,
            only: only.map(|family| match family {
                PdnTypeArg::Ipv4 => PdnType::Ipv4,
                PdnTypeArg::Ipv6 => PdnType::Ipv6,
                PdnTypeArg::Ipv4v6 => PdnType::Ipv4v6,
            }),
        },
        Command::Binding(BindingCommand::Revoke { selector, trigger }) => {
            Request::BindingRevoke { selector: selector.into(), trigger }
        }
        Command::Keys(KeysCommand::Reserve { key, mn_id, apn, pdn_connection_id }) => {
            Request::KeysReserve { key, mn_id, apn, pdn_connection_id }
        }
        Command::Keys(KeysCommand::Release { key }) => Request::KeysRelease { key },
        Command::Keys(KeysCommand::List) => Request::Keys,
    }
}

/// Runs one command; what to print goes to `out` / `err`; returns the exit status.
fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let request = request(cli.command);
    let reply = Client::connect(&cli.socket, Duration::from_secs(cli.timeout)).and_then(|mut c| c.call(&request));
    let response = match reply {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "pmipctl: {e}");
            return 3;
        }
    };
    let failed = matches!(response, Response::Error { .. });
    let text = if cli.json {
        serde_json::to_string_pretty(&response).map(|t| t + "\n").unwrap_or_else(|e| format!("{e}\n"))
    } else {
        api::render(&response)
    };
    let _ = if failed && !cli.json { err.write_all(text.as_bytes()) } else { out.write_all(text.as_bytes()) };
    u8::from(failed)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    ExitCode::from(run(cli, &mut std::io::stdout(), &mut std::io::stderr()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use controlplane::api::serve;
    use controlplane::loopback::{Loopback, Side};

    const NAI: &str = "001010000000001@nai.epc.mnc001.mcc001.3gppnetwork.org";

    /// Fields drop in order: the servers before the directory holding their sockets.
    struct Gateway {
        _servers: Vec<api::ApiServer>,
        lma: PathBuf,
        mag: PathBuf,
        _dir: tempfile::TempDir,
    }

    /// A MAG and an LMA answering on two sockets.
    fn gateway() -> Gateway {
        let pair = Loopback::lab().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (lma, mag) = (dir.path().join("lma.sock"), dir.path().join("mag.sock"));
        let servers =
            vec![serve(&lma, pair.handler(Side::Lma)).unwrap(), serve(&mag, pair.handler(Side::Mag)).unwrap()];
        Gateway { _servers: servers, lma, mag, _dir: dir }
    }

    /// Runs `pmipctl <args>` against `socket`: (status, stdout, stderr).
    fn ctl(socket: &std::path::Path, args: &[&str]) -> (u8, String, String) {
        let argv = ["pmipctl", "--socket", socket.to_str().unwrap()].into_iter().chain(args.iter().copied());
        let cli = Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let status = run(cli, &mut out, &mut err);
        (status, String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
    }

    fn json(text: &str) -> serde_json::Value {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    #[test]
    fn every_subcommand_human_and_json() {
        let gw = gateway();
        let (s, out, _) = ctl(&gw.mag, &["bindings"]);
        assert_eq!((s, out.as_str()), (0, "no bindings\n"));

        let create =
            ["pdn", "create", "--mn-id", NAI, "--apn", "internet", "--pdn-type", "ipv4v6", "--lma", "2001:db8:2::1"];
        let (s, out, err) = ctl(&gw.mag, &create);
        assert_eq!(s, 0, "{err}");
        assert!(out.contains("state:              active"), "{out}");
        assert!(out.contains("home-prefix:        2001:db8:100::/64"), "{out}");

        let (s, out, _) = ctl(&gw.lma, &["--json", "bindings", "--mn-id", NAI]);
        assert_eq!(s, 0);
        let v = json(&out);
        assert_eq!(v["result"], "bindings");
        let uplink = v["bindings"][0]["uplink_key"].as_u64().unwrap();
        assert_eq!(v["bindings"][0]["ipv4_home_address"], "10.45.0.2");

        let (s, out, _) = ctl(&gw.lma, &["bindings", "--key", &format!("{uplink:#x}")]);
        assert_eq!(s, 0);
        assert!(out.contains(&format!("uplink-key:         {uplink:#010x}")), "{out}");

        let (s, out, _) = ctl(&gw.mag, &["stats"]);
        assert_eq!(s, 0);
        assert!(out.contains("role: mag") && out.contains("tx   pbu"), "{out}");
        let (_, out, _) = ctl(&gw.lma, &["stats", "--json"]);
        assert_eq!(json(&out)["bindings"], 1);

        let (s, out, _) = ctl(&gw.mag, &["peers"]);
        assert_eq!(s, 0);
        assert!(out.contains("2001:db8:2::1") && out.contains("up"), "{out}");
        assert_eq!(json(&ctl(&gw.mag, &["--json", "peers"]).1)["peers"][0]["bindings"], 1);

        let (s, out, _) =
            ctl(&gw.lma, &["keys", "reserve", "--key", "0x77000001", "--mn-id", "other@nai", "--apn", "internet"]);
        assert_eq!(s, 0);
        assert!(out.contains("0x77000001 reserved"), "{out}");
        let (_, out, _) = ctl(&gw.lma, &["keys", "list"]);
        assert!(out.contains("0x77000001  other@nai"), "{out}");
        assert_eq!(json(&ctl(&gw.lma, &["keys", "list", "--json"]).1)["reservations"][0]["key"], 0x7700_0001);
        let (s, _, _) = ctl(&gw.lma, &["keys", "release", "--key", "1996488705"]);
        assert_eq!(s, 0);

        let (s, out, _) = ctl(&gw.lma, &["binding", "revoke", "--mn-id", NAI]);
        assert_eq!(s, 0);
        assert!(out.contains("revoking binding(s) 0 with trigger ADMINISTRATIVE_REASON"), "{out}");
        // The loopback delivered BRI and BRA at once: the binding is gone on both sides.
        assert_eq!(ctl(&gw.mag, &["bindings"]).1, "no bindings\n");

        let (s, _, err) = ctl(&gw.mag, &create);
        assert_eq!(s, 0, "{err}");
        let (s, out, _) = ctl(&gw.mag, &["--json", "pdn", "delete", "--mn-id", NAI, "--apn", "internet"]);
        assert_eq!(s, 0);
        assert_eq!(json(&out)["result"], "done");
    }

    #[test]
    fn bad_requests_say_what_was_wrong() {
        let gw = gateway();
        let (s, out, err) = ctl(
            &gw.mag,
            &["pdn", "create", "--mn-id", NAI, "--apn", "in_ternet", "--pdn-type", "ipv6", "--lma", "2001:db8:2::1"],
        );
        assert_eq!((s, out.as_str()), (1, ""));
        assert!(err.starts_with("error: apn \"in_ternet\""), "{err}");
        let (s, out, _) = ctl(&gw.mag, &["--json", "keys", "list"]);
        assert_eq!(s, 1);
        assert_eq!(json(&out)["error"], "binding revoke and keys are LMA commands; this gateway is a MAG");
        let (s, _, err) = ctl(&gw.lma, &["bindings", "--mn-id", "nobody@nai"]);
        assert_eq!(s, 1);
        assert!(err.contains("no binding matches mn-id nobody@nai"), "{err}");
        let (s, _, err) = ctl(&gw.lma, &["binding", "revoke"]);
        assert_eq!(s, 1);
        assert!(err.contains("needs an MN-ID or a key"), "{err}");
        let (s, _, err) = ctl(&gw.lma, &["keys", "release", "--key", "5"]);
        assert_eq!(s, 1);
        assert!(err.contains("GRE key 0x00000005 is not reserved"), "{err}");
    }

    #[test]
    fn command_line_and_connection_errors() {
        let e = Cli::try_parse_from(["pmipctl", "keys", "release", "--key", "0xZZ"]).unwrap_err().to_string();
        assert!(e.contains("is not a 32-bit GRE key"), "{e}");
        assert!(Cli::try_parse_from(["pmipctl", "pdn", "create", "--mn-id", "a"]).is_err());
        let (s, _, err) = ctl(std::path::Path::new("/nonexistent/pmipgw.sock"), &["stats"]);
        assert_eq!(s, 3);
        assert!(err.starts_with("pmipctl: cannot connect to /nonexistent/pmipgw.sock"), "{err}");
        assert_eq!(Cli::try_parse_from(["pmipctl", "stats"]).unwrap().socket, PathBuf::from("/run/pmipgw/pmipgw.sock"));
    }
}
