//! What operators deploy, checked by tools we did not write.
//! - The Debian package (`deploy/package/build-deb.sh`) built from this test's own binaries: dpkg-deb for the
//!   control fields and contents, dpkg-shlibdeps (in the build) for the library dependencies, `systemd-analyze
//!   verify` for the units, `man` for the pages, the packaged binaries themselves for the example configurations.
//! - The container's root filesystem (`deploy/container/build-rootfs.sh`, mmdebstrap) made from that package: the
//!   gateway runs the pcap demonstration inside it (chroot in a private mount namespace) and writes what it writes
//!   outside, and its entrypoint renders the Kubernetes configs.
//! - The Kubernetes manifests (`deploy/k8s`), rendered by kustomize (`kubectl kustomize`), validated against the
//!   Kubernetes schemas (kubernetes-validate) and linted (checkov).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"))
}

fn stdout_of(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds the package from the binaries cargo built for this test; returns it and the directory it went to.
fn build_package(dir: &Path) -> PathBuf {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_pmipgw")).parent().unwrap();
    assert!(bin_dir.join("pmipctl").exists(), "pmipctl beside pmipgw");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/package/build-deb.sh");
    let out = dir.join("out");
    let built = stdout_of(
        "bash",
        &[script.to_str().unwrap(), "--bin-dir", bin_dir.to_str().unwrap(), "--out", out.to_str().unwrap()],
    );
    let deb = PathBuf::from(built.trim());
    assert!(deb.exists(), "{built}");
    deb
}

#[test]
fn the_package_installs_the_gateway_its_units_and_working_examples() {
    let dir = tempfile::tempdir().unwrap();
    let deb = build_package(dir.path());
    let deb = deb.to_str().unwrap();
    let name = deb.rsplit('/').next().unwrap();
    assert!(name.starts_with(&format!("pmipgw_{}_", env!("CARGO_PKG_VERSION"))), "{name}");

    // Control fields: the libraries the binaries link (as dpkg-shlibdeps found them), DPDK's PMDs and tools, the
    // service user's adduser.
    let field = |f: &str| stdout_of("dpkg-deb", &["-f", deb, f]).trim().to_string();
    assert_eq!(field("Package"), "pmipgw");
    assert_eq!(field("Version"), env!("CARGO_PKG_VERSION"));
    let depends = field("Depends");
    for needed in ["libc6", "librte-eal", "librte-ethdev", "librte-mbuf", "dpdk", "adduser"] {
        assert!(depends.contains(needed), "Depends lacks {needed}: {depends}");
    }

    let listing = stdout_of("dpkg-deb", &["-c", deb]);
    let files: Vec<(&str, &str)> = listing
        .lines()
        .filter_map(|l| {
            let mode = l.split_whitespace().next()?;
            let path = l.split_whitespace().last()?;
            Some((mode, path.trim_start_matches('.')))
        })
        .collect();
    let mode_of = |path: &str| files.iter().find(|(_, p)| *p == path).map(|(m, _)| *m);
    for (path, mode) in [
        ("/usr/bin/pmipgw", "-rwxr-xr-x"),
        ("/usr/bin/pmipctl", "-rwxr-xr-x"),
        ("/usr/sbin/pmipgw-host-setup", "-rwxr-xr-x"),
        ("/lib/systemd/system/pmipgw@.service", "-rw-r--r--"),
        ("/lib/systemd/system/pmipgw-host-setup.service", "-rw-r--r--"),
        ("/lib/udev/rules.d/60-pmipgw-vfio.rules", "-rw-r--r--"),
        ("/usr/share/doc/pmipgw/examples/lma.toml", "-rw-r--r--"),
        ("/usr/share/doc/pmipgw/examples/mag.toml", "-rw-r--r--"),
        ("/usr/share/doc/pmipgw/copyright", "-rw-r--r--"),
        ("/usr/share/man/man8/pmipgw.8.gz", "-rw-r--r--"),
        ("/usr/share/man/man8/pmipctl.8.gz", "-rw-r--r--"),
        ("/usr/share/man/man8/pmipgw-host-setup.8.gz", "-rw-r--r--"),
        ("/etc/pmipgw/", "drwxr-xr-x"),
    ] {
        assert_eq!(mode_of(path), Some(mode), "{path} in\n{listing}");
    }
    assert!(listing.lines().all(|l| l.contains("root/root")), "files owned by root:\n{listing}");

    let root = dir.path().join("root");
    stdout_of("dpkg-deb", &["-x", deb, root.to_str().unwrap()]);
    let pmipgw = root.join("usr/bin/pmipgw");
    let version = stdout_of(pmipgw.to_str().unwrap(), &["--version"]);
    assert_eq!(version.trim(), format!("pmipgw {}", env!("CARGO_PKG_VERSION")));
    assert!(stdout_of(root.join("usr/bin/pmipctl").to_str().unwrap(), &["--help"]).contains("pmipctl"));

    // The shipped examples are valid configurations, for an LMA and a MAG on PCI devices.
    for example in ["lma", "mag"] {
        let config = root.join(format!("usr/share/doc/pmipgw/examples/{example}.toml"));
        let checked = stdout_of(pmipgw.to_str().unwrap(), &["--check-config", "--config", config.to_str().unwrap()]);
        assert!(checked.contains("OK (2 ports)"), "{example}: {checked}");
        let text = std::fs::read_to_string(&config).unwrap();
        assert!(text.contains(&format!("socket = \"/run/pmipgw/{example}.sock\"")), "one socket per instance");
        assert!(text.contains("--in-memory"), "runs without access to the hugepage mount");
    }

    // The units, with their programs pointed into the unpacked tree, pass systemd's own check without a warning.
    let units = dir.path().join("units");
    std::fs::create_dir_all(&units).unwrap();
    let mut checked_units = Vec::new();
    for (file, instance) in [("pmipgw@.service", "pmipgw@lma.service"), ("pmipgw-host-setup.service", "")] {
        let text = std::fs::read_to_string(root.join("lib/systemd/system").join(file)).unwrap();
        let local = text
            .replace("/usr/bin/", &format!("{}/usr/bin/", root.display()))
            .replace("/usr/sbin/", &format!("{}/usr/sbin/", root.display()));
        let path = units.join(if instance.is_empty() { file } else { instance });
        std::fs::write(&path, local).unwrap();
        checked_units.push(path.to_str().unwrap().to_string());
    }
    let mut args = vec!["verify", "--man=no"];
    args.extend(checked_units.iter().map(String::as_str));
    let verify = run("systemd-analyze", &args);
    let complaints = String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success() && complaints.trim().is_empty(), "systemd-analyze verify:\n{complaints}");
    let service = std::fs::read_to_string(root.join("lib/systemd/system/pmipgw@.service")).unwrap();
    for line in ["User=pmipgw", "ExecStart=/usr/bin/pmipgw --config /etc/pmipgw/%i.toml", "LimitMEMLOCK=infinity"] {
        assert!(service.lines().any(|l| l == line), "pmipgw@.service lacks {line}");
    }

    // The man pages render and carry each program's options.
    for (page, option) in [("pmipgw", "--check-config"), ("pmipctl", "--socket"), ("pmipgw-host-setup", "--hugepages")]
    {
        let path = root.join(format!("usr/share/man/man8/{page}.8.gz"));
        let out = Command::new("man").arg("-l").arg(&path).env("MANWIDTH", "120").output().expect("man");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains(option), "{page}(8) lacks {option}:\n{text}");
    }
}

#[test]
fn host_setup_plans_hugepages_vfio_and_boot_persistence_and_refuses_typos() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/host-setup.sh");
    let script = script.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();

    let plan = stdout_of(
        "bash",
        &[script, "--dry-run", "--root", root, "--hugepages", "2048", "--bind", "0000:3b:00.0,0000:3b:00.1"],
    );
    let runs: Vec<&str> = plan.lines().filter(|l| l.starts_with("run: ")).collect();
    assert_eq!(
        runs,
        [
            "run: sysctl -q -w vm.nr_hugepages=2048",
            "run: modprobe vfio-pci",
            "run: dpdk-devbind.py --bind=vfio-pci 0000:3b:00.0",
            "run: dpdk-devbind.py --bind=vfio-pci 0000:3b:00.1",
        ],
        "{plan}"
    );
    assert!(!plan.contains("write: "), "nothing persisted without --persist:\n{plan}");

    // --persist writes what the boot unit applies; --apply reads it back into the same plan.
    let persisted = stdout_of(
        "bash",
        &[script, "--dry-run", "--root", root, "--hugepages", "512", "--bind", "0000:01:00.0", "--persist"],
    );
    assert!(persisted.contains(&format!("write: {root}/etc/pmipgw/host.conf")), "{persisted}");
    assert!(persisted.contains("HUGEPAGES=512\nBIND=0000:01:00.0"), "{persisted}");
    assert!(persisted.contains(&format!("write: {root}/etc/modules-load.d/pmipgw.conf\nvfio-pci")), "{persisted}");
    std::fs::create_dir_all(dir.path().join("etc/pmipgw")).unwrap();
    std::fs::write(dir.path().join("etc/pmipgw/host.conf"), "HUGEPAGES=512\nBIND=0000:01:00.0\n").unwrap();
    let applied = stdout_of("bash", &[script, "--dry-run", "--root", root, "--apply"]);
    assert_eq!(
        applied.lines().collect::<Vec<_>>(),
        [
            "run: sysctl -q -w vm.nr_hugepages=512",
            "run: modprobe vfio-pci",
            "run: dpdk-devbind.py --bind=vfio-pci 0000:01:00.0"
        ]
    );

    let advice = stdout_of("bash", &[script, "--dry-run", "--isolate", "2-5"]);
    assert!(advice.contains("isolcpus=2-5 nohz_full=2-5 rcu_nocbs=2-5 intel_iommu=on iommu=pt"), "{advice}");

    // A typo stops everything before anything runs, naming the option.
    for (args, option) in [
        (vec!["--dry-run", "--hugepages", "2048", "--bind", "eth0"], "--bind: 'eth0'"),
        (vec!["--dry-run", "--hugepages", "lots"], "--hugepages: 'lots'"),
        (vec!["--dry-run", "--isolate", "two"], "--isolate: 'two'"),
        (vec!["--dry-run", "--frobnicate"], "unknown option --frobnicate"),
    ] {
        let mut full = vec![script];
        full.extend(args);
        let out = run("bash", &full);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{full:?}");
        assert!(stderr.contains(option) && out.stdout.is_empty(), "{full:?}: {stderr}");
    }
    let missing = run("bash", &[script, "--dry-run", "--root", "/nonexistent", "--apply"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/etc/pmipgw/host.conf is missing"));
}

/// Runs `script` with `sh` inside the root filesystem `root`, in a private mount namespace that lends it the
/// host's /proc, /sys and /dev (DPDK reads them) and takes them back when it ends.
fn in_rootfs(root: &Path, script: &str) -> Output {
    let setup = r#"for d in proc sys dev; do mount --rbind "/$d" "$0/$d"; done; exec chroot "$0" sh -c "$1""#;
    Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", setup, root.to_str().unwrap(), script])
        .output()
        .expect("unshare")
}

fn ok_in_rootfs(root: &Path, script: &str) -> String {
    let out = in_rootfs(root, script);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "in the rootfs, {script}:\n{text}");
    text
}

/// The pcap demonstration's configs copied under `dir`, writing their outputs to `out` (an absolute path as the
/// gateway will see it) instead of /tmp/pmipgw-example.
fn demo_configs(dir: &Path, out: &str) {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/examples");
    let copy = dir.join("deploy/examples");
    std::fs::create_dir_all(copy.join("pcap")).unwrap();
    for entry in std::fs::read_dir(examples.join("pcap")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, copy.join("pcap").join(path.file_name().unwrap())).unwrap();
    }
    for config in ["lma-pcap.toml", "mag-pcap.toml"] {
        let text = std::fs::read_to_string(examples.join(config)).unwrap();
        assert!(text.contains("/tmp/pmipgw-example/"), "{config} writes to /tmp/pmipgw-example");
        std::fs::write(copy.join(config), text.replace("/tmp/pmipgw-example/", &format!("{out}/"))).unwrap();
    }
}

/// Every frame of a pcap, as tshark dumps it in hex (no timestamps).
fn frames(pcap: &Path) -> String {
    stdout_of("tshark", &["-n", "-r", pcap.to_str().unwrap(), "-x"])
}

#[test]
fn the_container_rootfs_runs_the_demonstration_and_renders_kubernetes_configs() {
    let dir = tempfile::tempdir().unwrap();
    let deb = build_package(dir.path());
    let root = dir.path().join("rootfs");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/container/build-rootfs.sh");
    let built =
        run("bash", &[script.to_str().unwrap(), "--deb", deb.to_str().unwrap(), "--out", root.to_str().unwrap()]);
    assert!(built.status.success(), "build-rootfs.sh:\n{}", String::from_utf8_lossy(&built.stderr));

    // The image holds the gateway, DPDK's drivers as plugins, and the entrypoint; nothing of the build.
    let version = ok_in_rootfs(&root, "pmipgw --version");
    assert!(version.contains(&format!("pmipgw {}", env!("CARGO_PKG_VERSION"))), "{version}");
    let plugins = root.join("usr/lib/x86_64-linux-gnu/dpdk");
    let plugin_names: Vec<String> =
        walk(&plugins).iter().map(|p| p.file_name().unwrap().to_string_lossy().into()).collect();
    for driver in ["librte_mempool_ring.so", "librte_net_pcap.so", "librte_net_iavf.so", "librte_net_mlx5.so"] {
        assert!(plugin_names.iter().any(|n| n.starts_with(driver)), "{driver} in {plugins:?}: {plugin_names:?}");
    }
    assert!(!root.join("usr/bin/cargo").exists() && !root.join("usr/include/dpdk").exists(), "a runtime image");
    let checked = ok_in_rootfs(&root, "pmipgw --check-config --config /usr/share/doc/pmipgw/examples/lma.toml");
    assert!(checked.contains("OK (2 ports)"), "{checked}");

    // The pcap demonstration inside the image writes exactly what the same binary writes outside it.
    demo_configs(&root.join("demo"), "/demo/out");
    std::fs::create_dir_all(root.join("demo/out")).unwrap();
    let host = dir.path().join("host");
    let host_out = host.join("out");
    demo_configs(&host, host_out.to_str().unwrap());
    std::fs::create_dir_all(&host_out).unwrap();
    for role in ["lma", "mag"] {
        let inside = ok_in_rootfs(&root, &format!("cd /demo && pmipgw --config deploy/examples/{role}-pcap.toml"));
        assert!(inside.contains("mbufs in use after shutdown"), "{inside}");
        let outside = Command::new(env!("CARGO_BIN_EXE_pmipgw"))
            .args(["--config", &format!("deploy/examples/{role}-pcap.toml")])
            .current_dir(&host)
            .output()
            .unwrap();
        assert!(outside.status.success(), "{}", String::from_utf8_lossy(&outside.stderr));
    }
    let mut compared = 0;
    for entry in std::fs::read_dir(&host_out).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap();
        let (outside, inside) = (frames(&path), frames(&root.join("demo/out").join(name)));
        assert!(outside.lines().count() > 100, "{name:?} has frames");
        assert_eq!(inside, outside, "{name:?}: the image's output differs");
        compared += 1;
    }
    assert_eq!(compared, 4, "core and sgi of the LMA, core and access of the MAG");

    // The entrypoint fills a Kubernetes instance's template from the SR-IOV device plugin's variables and the
    // CPUs it may run on; the gateway accepts the result.
    let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/k8s/instances/lma-0/pmipgw.toml");
    std::fs::create_dir_all(root.join("etc/pmipgw")).unwrap();
    std::fs::copy(&template, root.join("etc/pmipgw/pmipgw.toml")).unwrap();
    let devices = "PCIDEVICE_INTEL_COM_PMIPGW_CORE=0000:3b:02.1 PCIDEVICE_INTEL_COM_PMIPGW_SGI=0000:3b:0a.1";
    let checked = ok_in_rootfs(&root, &format!("env {devices} pmipgw-entrypoint --check-config"));
    assert!(checked.contains("OK (2 ports)"), "{checked}");
    let rendered = std::fs::read_to_string(root.join("run/pmipgw/pmipgw.toml")).unwrap();
    assert!(
        rendered.contains("device = \"0000:3b:02.1\"") && rendered.contains("\"-a\", \"0000:3b:0a.1\""),
        "{rendered}"
    );
    let cpus = std::fs::read_to_string("/proc/self/status").unwrap();
    let cpus = cpus.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).unwrap().trim();
    assert!(rendered.contains(&format!("lcores = \"{cpus}\"")), "{rendered}");
    // A variable the template needs and the pod lacks is named, and nothing runs.
    let missing = in_rootfs(&root, "env PCIDEVICE_INTEL_COM_PMIPGW_CORE=0000:3b:02.1 pmipgw-entrypoint --check-config");
    let complaint = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(2), "{complaint}");
    assert!(complaint.contains("${PCIDEVICE_INTEL_COM_PMIPGW_SGI}") && !complaint.contains("_CORE}"), "{complaint}");
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// The Kubernetes checkers' virtualenv (`deploy/install-deps.sh`).
const TOOLS: &str = "/opt/pmipgw-tools/bin";

/// `kubectl kustomize` of one directory under deploy/k8s, which must render without a warning.
fn kustomize(dir: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/k8s").join(dir);
    let out = run("kubectl", &["kustomize", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "kustomize {dir}:\n{stderr}");
    String::from_utf8(out.stdout).unwrap()
}

/// The documents of a YAML stream, as JSON (PyYAML, from the checkers' virtualenv).
fn documents(yaml: &str) -> Vec<serde_json::Value> {
    let mut child = Command::new(format!("{TOOLS}/python"))
        .args(["-c", "import json, sys, yaml; json.dump(list(yaml.safe_load_all(sys.stdin)), sys.stdout)"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the checkers' python");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), yaml.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Whether every label of `selector` is on `labels`.
fn selects(selector: &serde_json::Value, labels: &serde_json::Value) -> bool {
    selector.as_object().is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

/// A CIDR as its first and last address.
fn span(cidr: &str) -> (u128, u128) {
    let (addr, len) = cidr.split_once('/').unwrap();
    let len: u32 = len.parse().unwrap();
    let (first, bits) = match addr.parse::<std::net::IpAddr>().unwrap() {
        std::net::IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
        std::net::IpAddr::V6(a) => (u128::from(a), 128),
    };
    (first, first + ((1u128 << (bits - len)) - 1))
}

#[test]
fn kubernetes_manifests_render_validate_and_keep_instances_apart() {
    // Each piece renders alone, and the cluster renders them together.
    for dir in ["instances/lma-0", "instances/lma-1", "instances/mag-0", "shared"] {
        assert!(kustomize(dir).contains("kind: "), "{dir}");
    }
    let cluster = kustomize("cluster");
    let docs = documents(&cluster);
    let of_kind = |kind: &str| docs.iter().filter(move |d| d["kind"] == kind).collect::<Vec<_>>();
    let dir = tempfile::tempdir().unwrap();

    // Kubernetes' own schemas, strictly (no unknown field), for every built-in kind; the custom resources
    // (Multus, the Prometheus Operator) have no schema there and are checked by what they must connect to below.
    let mut files = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        if doc["apiVersion"].as_str().is_some_and(|v| v.contains("k8s.cni.cncf.io") || v.contains("coreos.com")) {
            continue;
        }
        let path = dir.path().join(format!("{i:02}.json"));
        std::fs::write(&path, serde_json::to_vec(doc).unwrap()).unwrap();
        files.push(path.to_str().unwrap().to_owned());
    }
    let mut args = vec!["--strict", "--kubernetes-version", "1.30.0"];
    args.extend(files.iter().map(String::as_str));
    let validated = run(&format!("{TOOLS}/kubernetes-validate"), &args);
    let report = String::from_utf8_lossy(&validated.stdout);
    assert!(validated.status.success(), "kubernetes-validate:\n{report}{}", String::from_utf8_lossy(&validated.stderr));
    assert_eq!(report.matches(" passed for resource ").count(), files.len(), "{report}");

    // The security and reliability lint, with each waived check's reason in the manifests.
    let manifest = dir.path().join("cluster.yaml");
    std::fs::write(&manifest, &cluster).unwrap();
    let linted = run(
        &format!("{TOOLS}/checkov"),
        &["-f", manifest.to_str().unwrap(), "--framework", "kubernetes", "--compact", "--quiet", "--skip-download"],
    );
    let lint = String::from_utf8_lossy(&linted.stdout);
    assert!(linted.status.success() && lint.contains("Failed checks: 0"), "checkov:\n{lint}");

    // What must connect does: networks, device-plugin resources, config, selectors, probes.
    let statefulsets = of_kind("StatefulSet");
    assert_eq!(statefulsets.len(), 3, "two LMAs and a MAG");
    let networks = of_kind("NetworkAttachmentDefinition");
    let mut lma_configs = Vec::new();
    for sts in &statefulsets {
        let name = sts["metadata"]["name"].as_str().unwrap();
        let pod = &sts["spec"]["template"];
        let container = &pod["spec"]["containers"][0];
        let resources = &container["resources"];
        assert_eq!(resources["requests"], resources["limits"], "{name}: Guaranteed QoS needs requests = limits");
        assert!(resources["limits"]["cpu"].as_str().unwrap().parse::<u32>().is_ok(), "{name}: whole CPUs to pin");
        assert!(resources["limits"]["hugepages-2Mi"].is_string(), "{name}: hugepages");
        let attached = pod["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"].as_str().unwrap();
        for network in attached.split(',').map(str::trim) {
            let nad = networks.iter().find(|n| n["metadata"]["name"] == network).unwrap_or_else(|| panic!("{network}"));
            assert_eq!(nad["metadata"]["namespace"], sts["metadata"]["namespace"], "{network}");
            let resource = nad["metadata"]["annotations"]["k8s.v1.cni.cncf.io/resourceName"].as_str().unwrap();
            assert_eq!(resources["limits"][resource], "1", "{name} asks for one VF of {resource}");
            let cni: serde_json::Value = serde_json::from_str(nad["spec"]["config"].as_str().unwrap()).unwrap();
            assert_eq!((cni["type"].as_str(), cni["name"].as_str()), (Some("sriov"), Some(network)));
        }
        let claimed = sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"].as_str().unwrap();
        let mounts = container["volumeMounts"].as_array().unwrap();
        assert!(mounts.iter().any(|m| m["name"] == claimed && m["mountPath"] == "/var/lib/pmipgw"), "{name}: state");
        for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
            assert_eq!(container[probe]["httpGet"]["port"], "metrics", "{name} {probe}");
        }
        let labels = &pod["metadata"]["labels"];
        assert!(selects(&sts["spec"]["selector"]["matchLabels"], labels), "{name}: its selector");
        let services: Vec<_> =
            of_kind("Service").into_iter().filter(|s| selects(&s["spec"]["selector"], labels)).collect();
        assert_eq!(services.len(), 1, "{name}: one Service selects it");
        let policies = of_kind("NetworkPolicy");
        assert!(policies.iter().any(|p| selects(&p["spec"]["podSelector"]["matchLabels"], labels)), "{name}: policy");

        // Its config: the ConfigMap it mounts, filled in as the entrypoint would, is one pmipgw accepts.
        let volumes = pod["spec"]["volumes"].as_array().unwrap();
        let map_name = volumes.iter().find_map(|v| v["configMap"]["name"].as_str()).unwrap();
        let map = of_kind("ConfigMap").into_iter().find(|m| m["metadata"]["name"] == map_name).unwrap();
        let text = map["data"]["pmipgw.toml"].as_str().unwrap();
        let filled = text
            .replace("${PMIPGW_LCORES}", "0")
            .replace("${PCIDEVICE_INTEL_COM_PMIPGW_CORE}", "0000:3b:02.1")
            .replace("${PCIDEVICE_INTEL_COM_PMIPGW_SGI}", "0000:3b:0a.1")
            .replace("${PCIDEVICE_INTEL_COM_PMIPGW_ACCESS}", "0000:3b:0a.1");
        assert!(!filled.contains("${"), "{name}: a placeholder no device plugin fills:\n{text}");
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, &filled).unwrap();
        let checked = stdout_of(env!("CARGO_BIN_EXE_pmipgw"), &["--check-config", "--config", path.to_str().unwrap()]);
        assert!(checked.contains("OK (2 ports)"), "{name}: {checked}");
        assert!(filled.contains("listen = \"0.0.0.0:9464\""), "{name}: Prometheus reaches the metrics port");
        if labels["pmipgw.io/role"] == "lma" {
            lma_configs.push((path.clone(), filled.parse::<toml::Table>().unwrap()));
        }
    }
    for monitor in of_kind("ServiceMonitor") {
        for service in of_kind("Service") {
            assert!(selects(&monitor["spec"]["selector"]["matchLabels"], &service["metadata"]["labels"]));
            let port = &monitor["spec"]["endpoints"][0]["port"];
            assert!(service["spec"]["ports"].as_array().unwrap().iter().any(|p| &p["name"] == port));
        }
    }

    // The LMA instances of the cluster share nothing a UE or a MAG could see twice: addresses, uplink keys, pools.
    assert_eq!(lma_configs.len(), 2);
    let (a, b) = (&lma_configs[0].1, &lma_configs[1].1);
    let keys = |c: &toml::Table| {
        let k = &c["lma"]["uplink_keys"];
        (k["first"].as_integer().unwrap(), k["last"].as_integer().unwrap())
    };
    let ((a0, a1), (b0, b1)) = (keys(a), keys(b));
    assert!(
        a0 <= a1 && b0 <= b1 && (a1 < b0 || b1 < a0),
        "uplink key ranges overlap: {a0:#x}-{a1:#x}, {b0:#x}-{b1:#x}"
    );
    for pool in ["ipv4_pool", "ipv6_pool"] {
        let (x, y) =
            (span(a["lma"]["apns"][0][pool].as_str().unwrap()), span(b["lma"]["apns"][0][pool].as_str().unwrap()));
        assert!(x.1 < y.0 || y.1 < x.0, "{pool}s overlap");
    }
    let lmaa = |c: &toml::Table| c["gateway"]["lmaa"].as_array().unwrap().clone();
    assert!(lmaa(a).iter().all(|addr| !lmaa(b).contains(addr)), "LMA addresses are the instances' own");
    // pmipgw itself agrees, and refuses an instance given twice, naming the setting and the other file.
    let (a, b) = (lma_configs[0].0.to_str().unwrap(), lma_configs[1].0.to_str().unwrap());
    let checked = stdout_of(env!("CARGO_BIN_EXE_pmipgw"), &["--check-config", "-c", a, "--cluster-with", b]);
    assert!(checked.contains("cluster of 2: OK"), "{checked}");
    let twice =
        run(env!("CARGO_BIN_EXE_pmipgw"), &["--check-config", "-c", a, "--cluster-with", b, "--cluster-with", a]);
    let complaint = String::from_utf8_lossy(&twice.stderr);
    assert_eq!(twice.status.code(), Some(2), "{complaint}");
    assert!(
        complaint.contains("key 'lma.uplink_keys'") && complaint.contains(&format!("which {a} hands out too")),
        "{complaint}"
    );
}
