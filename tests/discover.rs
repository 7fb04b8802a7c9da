//! Issue 17, items 8 and 9: completions, the manual page, --help examples, and
//! selections that used to do nothing silently.

mod common;

#[test]
fn bash_completions_know_the_limit_flags() {
    let out = common::synack().args(["completions", "bash"]).output();
    out.success().stdout_contains("--max-rst");
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        common::synack()
            .args(["completions", shell])
            .output()
            .success();
    }
}

#[test]
fn man_prints_roff() {
    let out = common::synack().arg("man").output();
    out.success();
    let text = out.stdout();
    assert!(text.starts_with(".TH"), "{}", &text[..text.len().min(200)]);
    assert!(text.contains("SYNACK CHECK"));
    assert!(text.contains("max\\-rst"));
}

#[test]
fn every_subcommand_help_ends_with_examples() {
    for sub in ["report", "check", "capture", "ladder", "completions", "man"] {
        let out = common::synack().args([sub, "--help"]).output();
        out.success().stdout_contains("Examples:");
    }
}

#[test]
fn json_refuses_table_selections() {
    for sel in [&["--abnormal"][..], &["--top", "3"]] {
        let mut args = vec!["report", "--format", "json"];
        args.extend_from_slice(sel);
        args.push("fixtures/sample.pcap");
        let out = common::synack().args(&args).output();
        out.code(2)
            .stderr_contains("--format json lists every connection");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn abnormal_with_none_abnormal_says_so() {
    common::synack()
        .args(["report", "--abnormal", "fixtures/tcp/close-client.pcap"])
        .output()
        .success()
        .stdout_contains("no abnormal connection among the 1");
}

#[test]
fn ladder_takes_an_address_without_port() {
    common::synack()
        .args(["ladder", "--client", "10.0.0.2", "--server", "10.0.0.1"])
        .arg("fixtures/tcp/close-client.pcap")
        .output()
        .success()
        .stdout_contains("connection #1");
    common::synack()
        .args(["ladder", "--client", "2001:db8::2", "fixtures/sample.pcap"])
        .output()
        .success()
        .stdout_contains("connection #8");
    common::synack()
        .args([
            "ladder",
            "--server",
            "[2001:db8::1]:443",
            "fixtures/sample.pcap",
        ])
        .output()
        .success()
        .stdout_contains("connection #8");
    common::synack()
        .args(["ladder", "--client", "10.0.0.3", "fixtures/sample.pcap"])
        .output()
        .code(2)
        .stderr_contains("no connection matches --client 10.0.0.3");
}
