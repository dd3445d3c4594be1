//! Finds the system DPDK with pkg-config, generates bindings for an allowlist of what a GRE gateway needs, and
//! compiles the C shim that makes DPDK's static-inline functions callable. Nothing generated is checked in.

use std::env;
use std::path::PathBuf;

const MIN_DPDK: &str = "22.11";
const INSTALL_HINT: &str =
    "install it with: apt-get install dpdk dpdk-dev libdpdk-dev libpcap-dev pkg-config clang libclang-dev";

fn main() {
    println!("cargo:rerun-if-changed=shim/shim.h");
    println!("cargo:rerun-if-changed=shim/shim.c");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    let dpdk = match pkg_config::Config::new().atleast_version(MIN_DPDK).probe("libdpdk") {
        Ok(lib) => lib,
        Err(err) => {
            // One message, naming what to install: the usual reason is a fresh machine without DPDK.
            eprintln!("error: DPDK >= {MIN_DPDK} (pkg-config libdpdk) not found: {err}");
            eprintln!("error: {INSTALL_HINT}");
            panic!("DPDK >= {MIN_DPDK} not found; {INSTALL_HINT}");
        }
    };

    // The C flags DPDK was built for (-include rte_config.h, -march=...); bindgen and the shim need the same.
    let cflags = pkg_config_cflags();
    if !cflags.iter().any(|f| f.starts_with("-march") || f == "-mssse3" || f.starts_with("-msse4")) {
        println!("cargo:warning=pkg-config gave no -march flag for libdpdk; adding -mssse3 (DPDK headers need SSSE3)");
    }
    let mut clang_args: Vec<String> = cflags.clone();
    if !cflags.iter().any(|f| f.starts_with("-march")) {
        clang_args.push("-mssse3".into());
    }

    let mut build = cc::Build::new();
    build.file("shim/shim.c").opt_level(3).warnings(false);
    for path in &dpdk.include_paths {
        build.include(path);
    }
    for flag in &clang_args {
        if !flag.starts_with("-I") {
            build.flag(flag);
        }
    }
    build.compile("pmipgw_dpdk_shim");

    let bindings = bindgen::Builder::default()
        .header("shim/shim.h")
        .clang_args(&clang_args)
        .allowlist_function("shim_.*")
        .allowlist_function("rte_eal_(init|cleanup|get_runtime_dir|process_type|mp_wait_for_lcores|get_lcore_state|remote_launch|wait_lcore)")
        .allowlist_function("rte_eth_(dev_(configure|start|stop|close|info_get|count_avail|get_port_by_name|socket_id|set_mtu|get_mtu|is_valid_port)|macaddr_get|stats_(get|reset)|rx_queue_setup|tx_queue_setup|promiscuous_enable|link_get_nowait|find_next_owned_by|xstats_get|dev_adjust_nb_rx_tx_desc)")
        .allowlist_function("rte_pktmbuf_(pool_create|free_bulk)")
        .allowlist_function("rte_hash_(create|free|add_key_with_hash_data|lookup_with_hash_bulk_data)")
        .allowlist_type("rte_hash_parameters")
        .allowlist_function("rte_flow_(validate|create|flush)")
        .allowlist_type("rte_flow_(attr|item|action|error|item_gre|action_queue|item_type|action_type)")
        .allowlist_function("rte_dev_(probe|remove)")
        .allowlist_function("rte_mempool_(avail_count|in_use_count|free|lookup)")
        .allowlist_function("rte_(lcore_count|get_main_lcore|get_next_lcore|socket_id|lcore_to_socket_id|get_tsc_hz|strerror|version|delay_us_block)")
        .allowlist_type("rte_mbuf|rte_eth_conf|rte_eth_dev_info|rte_eth_stats|rte_ether_addr|rte_eth_rxconf|rte_eth_txconf|rte_eth_link|rte_mempool|rte_lcore_state_t|rte_rmt_call_main_t")
        .allowlist_var("RTE_MAX_ETHPORTS|RTE_MAX_LCORE|RTE_PKTMBUF_HEADROOM|RTE_MBUF_DEFAULT_BUF_SIZE|RTE_ETHER_ADDR_LEN|RTE_ETHER_MTU|RTE_ETH_NAME_MAX_LEN|SOCKET_ID_ANY|RTE_ETH_RSS_.*|RTE_ETH_MQ_.*")
        // Packed-and-aligned ARP structs make rustc reject the generated layout; the gateway parses ARP itself.
        .opaque_type("rte_arp_hdr")
        .opaque_type("rte_arp_ipv4")
        .opaque_type("rte_l2tpv2_combined_msg_hdr")
        .opaque_type("rte_gtp_psc_generic_hdr")
        .derive_default(true)
        .derive_debug(true)
        .layout_tests(false)
        .generate_comments(false)
        .prepend_enum_name(false)
        .default_enum_style(bindgen::EnumVariation::Consts)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
        .unwrap_or_else(|err| panic!("bindgen failed over the DPDK headers: {err}; {INSTALL_HINT}"));

    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    bindings.write_to_file(out.join("bindings.rs")).expect("writing bindings.rs into OUT_DIR");

    // DPDK's PMDs (net_pcap, net_null, net_ring, net_memif, ...) are plugins in the driver directory that a shared
    // libdpdk's EAL loads by itself, so nothing more is linked here.
}

fn pkg_config_cflags() -> Vec<String> {
    let output = std::process::Command::new("pkg-config")
        .args(["--cflags", "libdpdk"])
        .output()
        .unwrap_or_else(|err| panic!("running pkg-config --cflags libdpdk: {err}; {INSTALL_HINT}"));
    String::from_utf8_lossy(&output.stdout).split_whitespace().map(str::to_owned).collect()
}
