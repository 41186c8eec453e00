//! The admin commands of the `keyward` binary, run as an operator would.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;
use std::{
    io::Write,
    process::{Command, Stdio},
};

fn keyward(data_dir: &std::path::Path, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .env("KEYWARD_DATA_DIR", data_dir)
        .env_remove("DATABASE_URL")
        .env_remove("KEYWARD_PEPPER")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn bootstrap_an_admin_and_import_legacy_keys_from_the_command_line() {
    let data_dir = std::env::temp_dir().join(format!("keyward-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);

    let help = keyward(&data_dir, &["legacy-keys", "import", "--help"], "");
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--account"));

    let create_admin = [
        "admin",
        "create",
        "--email",
        "ops@example.com",
        "--account-name",
        "Ops",
    ];
    let short = keyward(&data_dir, &create_admin, "short\n");
    assert!(!short.status.success(), "a too-short password is refused");
    assert!(String::from_utf8_lossy(&short.stderr).contains("password"));

    let created = keyward(&data_dir, &create_admin, &format!("{PASSWORD}\n"));
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let stdout = String::from_utf8_lossy(&created.stdout).to_string();
    let account_id = stdout
        .split_whitespace()
        .find(|word| word.starts_with("acc_"))
        .unwrap()
        .to_string();

    let legacy = "legacy-secret-from-the-old-system-1234";
    let imported = keyward(
        &data_dir,
        &["legacy-keys", "import", "--account", &account_id],
        &format!("{legacy}\n\n"),
    );
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    assert!(String::from_utf8_lossy(&imported.stdout).contains("Imported 1 legacy key"));
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&imported.stdout),
        String::from_utf8_lossy(&imported.stderr)
    );
    assert!(!output.contains(legacy), "the secret is never echoed");

    // The server started on the same data directory accepts both.
    let app = spawn_app_in(&data_dir).await;
    let admin = app.anonymous();
    admin
        .call_ok(
            "auth/login",
            json!({"email": "ops@example.com", "password": PASSWORD}),
            StatusCode::OK,
        )
        .await;
    let me = app
        .with_key(legacy)
        .call_ok("auth/me", json!({}), StatusCode::OK)
        .await;
    assert_eq!(me["via"], "account_key");
    assert_eq!(me["account"]["id"], account_id.as_str());

    // The commands wrote their events; the chain verifies, and an edited row is named.
    let trail = admin.call_ok("audit/list", json!({}), StatusCode::OK).await;
    let actions: Vec<&str> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "session.signed_in",
            "legacy_keys.imported",
            "account.created"
        ]
    );
    assert_eq!(trail["events"][1]["actor"]["type"], "cli");
    let verified = keyward(&data_dir, &["audit", "verify"], "");
    let report = String::from_utf8_lossy(&verified.stdout).to_string();
    assert!(verified.status.success(), "{report}");
    assert!(report.contains("every chain is intact"), "{report}");
    let imported_event = trail["events"][1]["id"].as_str().unwrap();
    sqlx::query("UPDATE audit_events SET details = '{\"count\": 0}' WHERE id = $1")
        .bind(imported_event)
        .execute(&app.state.pool)
        .await
        .unwrap();
    let tampered = keyward(&data_dir, &["audit", "verify"], "");
    let report = String::from_utf8_lossy(&tampered.stdout).to_string();
    assert_eq!(tampered.status.code(), Some(1), "{report}");
    assert!(report.contains(imported_event), "{report}");
}
