//! The Debian package (`deploy/package/build-deb.sh`) built from this test's own binaries, then taken apart with
//! dpkg-deb and checked by tools we did not write: dpkg-deb for the control fields and contents, dpkg-shlibdeps
//! (in the build) for the library dependencies, `systemd-analyze verify` for the units, `man` for the pages, and
//! the packaged binaries themselves for the example configurations.

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
