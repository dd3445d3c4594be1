//! Bad configurations stop the gateway with a non-zero exit and one line that names the key and the problem.

mod common;

use common::*;

/// The gateway's own error line: exactly one line of stderr starts with "error:".
fn error_line(out: &std::process::Output) -> String {
    assert!(!out.status.success(), "must fail; stdout:\n{}", String::from_utf8_lossy(&out.stdout));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line, got:\n{stderr}");
    errors[0].to_owned()
}

fn port(device: &str, extra: &str) -> String {
    format!("[[port]]\nname = \"core\"\ndevice = \"{device}\"\n{extra}")
}

#[test]
fn missing_file() {
    let out = run_gateway(&["--config", "/nonexistent/pmipgw.toml"]);
    let line = error_line(&out);
    assert!(line.contains("/nonexistent/pmipgw.toml") && line.contains("cannot read"), "{line}");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn unknown_key() {
    let s = Scenario::new("cfg-unknown");
    let path = s.write_config(&format!("{}{}", s.dpdk_section(), port("net_null0", "speed = 10\n")));
    let line = error_line(&run_gateway(&["--check-config", "-c", path.to_str().unwrap()]));
    assert!(line.contains("key 'port[0].speed'") && line.contains("unknown field"), "{line}");
}

#[test]
fn malformed_value() {
    let s = Scenario::new("cfg-malformed");
    let path = s.write_config(&format!("{}{}", s.dpdk_section(), port("net_null0", "mtu = -5\n")));
    let line = error_line(&run_gateway(&["-c", path.to_str().unwrap()]));
    assert!(line.contains("key 'port[0].mtu'"), "{line}");
    let path = s.write_config(&s.dpdk_section().replace("mempool_size = 4095", "mempool_size = \"lots\""));
    let line = error_line(&run_gateway(&["-c", path.to_str().unwrap()]));
    assert!(line.contains("key 'dpdk.mempool_size'"), "{line}");
}

#[test]
fn not_a_device_name() {
    let s = Scenario::new("cfg-devname");
    let path = s.write_config(&format!("{}{}", s.dpdk_section(), port("eth0", "")));
    let line = error_line(&run_gateway(&["-c", path.to_str().unwrap()]));
    assert!(line.contains("key 'port[0].device'") && line.contains("eth0"), "{line}");
}

#[test]
fn unknown_device_is_reported_by_key_after_eal_starts() {
    let s = Scenario::new("cfg-unknown-dev");
    let path = s.write_config(&format!("{}{}", s.dpdk_section(), port("net_nosuchdriver0", "")));
    // Valid on paper...
    let check = run_gateway(&["--check-config", "-c", path.to_str().unwrap()]);
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    // ...but DPDK has no such driver.
    let line = error_line(&run_gateway(&["-c", path.to_str().unwrap()]));
    assert!(line.contains("key 'port[0].device'") && line.contains("net_nosuchdriver0"), "{line}");
}

#[test]
fn check_config_accepts_the_shipped_examples() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&examples).expect("deploy/examples") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let out = run_gateway(&["--check-config", "-c", path.to_str().unwrap()]);
            assert!(out.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
            checked += 1;
        }
    }
    assert!(checked > 0, "no example configs found in {}", examples.display());
}
