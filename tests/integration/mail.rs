//! Email through `KEYWARD_SMTP_URL`, against an SMTP sink the test starts on loopback: what a
//! mail server receives, not what keyward believes it sent.

use crate::support::*;
use keyward::domain::time::{now_millis, rfc3339};
use keyward::server::config::SmtpUrl;
use keyward::server::mail::send_expiry_notices;
use reqwest::StatusCode;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A minimal SMTP server: it accepts every message (or, while `refusing`, every recipient
/// gets 550) and keeps what it received.
#[derive(Clone)]
struct SmtpSink {
    address: SocketAddr,
    messages: Arc<Mutex<Vec<Received>>>,
    refusing: Arc<AtomicBool>,
}

#[derive(Clone, Debug)]
struct Received {
    recipients: Vec<String>,
    data: String,
}

impl SmtpSink {
    async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink = SmtpSink {
            address: listener.local_addr().unwrap(),
            messages: Arc::default(),
            refusing: Arc::default(),
        };
        let serving = sink.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sink = serving.clone();
                tokio::spawn(async move {
                    let _ = sink.converse(stream).await;
                });
            }
        });
        sink
    }

    async fn converse(&self, stream: tokio::net::TcpStream) -> std::io::Result<()> {
        let (reader, mut writer) = stream.into_split();
        let mut lines = BufReader::new(reader).lines();
        writer.write_all(b"220 sink ESMTP\r\n").await?;
        let mut recipients = Vec::new();
        while let Some(line) = lines.next_line().await? {
            let command = line.to_ascii_uppercase();
            let reply: &[u8] = if command.starts_with("EHLO") || command.starts_with("HELO") {
                b"250 sink\r\n"
            } else if command.starts_with("MAIL FROM") {
                recipients.clear();
                b"250 OK\r\n"
            } else if command.starts_with("RCPT TO") {
                if self.refusing.load(Ordering::SeqCst) {
                    b"550 mailbox unavailable\r\n"
                } else {
                    recipients.push(line[8..].trim().to_string());
                    b"250 OK\r\n"
                }
            } else if command == "DATA" {
                writer.write_all(b"354 go ahead\r\n").await?;
                let mut data = String::new();
                while let Some(line) = lines.next_line().await? {
                    if line == "." {
                        break;
                    }
                    data.push_str(&line);
                    data.push('\n');
                }
                self.messages.lock().unwrap().push(Received {
                    recipients: std::mem::take(&mut recipients),
                    data,
                });
                b"250 queued\r\n"
            } else if command == "QUIT" {
                writer.write_all(b"221 bye\r\n").await?;
                return Ok(());
            } else {
                b"250 OK\r\n"
            };
            writer.write_all(reply).await?;
        }
        Ok(())
    }

    fn url(&self) -> SmtpUrl {
        SmtpUrl(format!("smtp://{}", self.address))
    }

    fn received(&self) -> Vec<Received> {
        self.messages.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until `count` messages have arrived.
    async fn wait_for(&self, count: usize) -> Vec<Received> {
        for _ in 0..200 {
            if self.received().len() >= count {
                return self.received();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "expected {count} emails, the sink has {:?}",
            self.received()
        );
    }
}

#[tokio::test]
async fn invites_are_emailed_with_their_link() {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    on_each_engine_with(
        |config| {
            config.smtp_url = Some(url.clone());
            config.public_url = Some("https://keys.example.com".to_string());
        },
        |app| {
            let sink = sink.clone();
            async move {
                let before = sink.received().len();
                let (admin, _) = app.signup(&format!("mailer{before}@example.com")).await;
                let invitation = admin.invite("newcomer@example.com", "read_write").await;
                assert_eq!(invitation["emailed"], true);
                let received = sink.wait_for(before + 1).await;
                let message = &received[before];
                assert_eq!(message.recipients, ["<newcomer@example.com>"]);
                let link = invitation["invite_url"].as_str().unwrap();
                assert!(message.data.contains(link), "{}", message.data);
                assert!(message.data.contains("Read & write"), "{}", message.data);
                assert!(message.data.contains("Subject: You are invited to"));
            }
        },
    )
    .await;
}

#[tokio::test]
async fn without_smtp_an_invite_is_a_link_only() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("nomail@example.com").await;
        let invitation = admin.invite("someone@example.com", "read_only").await;
        assert_eq!(invitation["emailed"], false);
    })
    .await;
}

#[tokio::test]
async fn owners_are_told_once_a_week_before_expiry_and_once_at_expiry() {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    on_each_engine_with(
        |config| {
            config.smtp_url = Some(url.clone());
            config.public_url = Some("https://keys.example.com".to_string());
        },
        |app| {
            let sink = sink.clone();
            async move {
                let before = sink.received().len();
                let email = format!("owner{before}@example.com");
                let (owner, _) = app.signup(&email).await;
                let in_days =
                    |days: u64| rfc3339(now_millis().after(Duration::from_secs(days * 86_400)));
                owner
                    .create_key(json!({"name": "soon", "expires_at": in_days(3)}))
                    .await;
                owner
                    .create_key(json!({"name": "later", "expires_at": in_days(20)}))
                    .await;
                owner.create_key(json!({"name": "forever"})).await;
                let (revoked, _) = owner
                    .create_key(json!({"name": "revoked", "expires_at": in_days(2)}))
                    .await;
                owner
                    .call_ok(
                        "keys/revoke",
                        json!({"key_id": revoked["id"]}),
                        StatusCode::OK,
                    )
                    .await;
                let (rotated, _) = owner
                    .create_key(json!({"name": "rotated", "expires_at": in_days(30)}))
                    .await;
                owner
                    .call_ok(
                        "keys/rotate",
                        json!({"key_id": rotated["id"], "grace_seconds": 3600}),
                        StatusCode::CREATED,
                    )
                    .await;
                let (ended, _) = owner
                    .create_key(json!({"name": "ended", "expires_at": in_days(1)}))
                    .await;
                sqlx::query("UPDATE api_keys SET expires_at = $1 WHERE id = $2")
                    .bind(now_millis().as_i64() - 3_600_000)
                    .bind(ended["id"].as_str().unwrap())
                    .execute(&app.state.pool)
                    .await
                    .unwrap();

                // A mail server that refuses: nothing counts as sent, and it is tried again.
                sink.refusing.store(true, Ordering::SeqCst);
                let sent = send_expiry_notices(&app.state, now_millis()).await.unwrap();
                assert_eq!(sent, 0);
                sink.refusing.store(false, Ordering::SeqCst);

                let sent = send_expiry_notices(&app.state, now_millis()).await.unwrap();
                // The app's own round (at start-up, then every ten minutes) may run meanwhile on
                // a loaded machine and send one of them: between the two, each is sent once.
                assert!(
                    (1..=2).contains(&sent),
                    "the key expiring in 3 days and the one that expired: {sent}"
                );
                let received = sink.wait_for(before + 2).await;
                assert_eq!(
                    received.len(),
                    before + 2,
                    "the key expiring in 3 days and the one that expired, once each"
                );
                let subjects: Vec<&str> = received[before..]
                    .iter()
                    .map(|message| {
                        assert_eq!(message.recipients, [format!("<{email}>")]);
                        message
                            .data
                            .lines()
                            .find(|line| line.starts_with("Subject: "))
                            .unwrap()
                    })
                    .collect();
                assert!(
                    subjects.contains(&"Subject: Your keyward key \"soon\" expires in 3 days"),
                    "{subjects:?}"
                );
                assert!(
                    subjects.contains(&"Subject: Your keyward key \"ended\" has expired"),
                    "{subjects:?}"
                );
                // Once only.
                assert_eq!(
                    send_expiry_notices(&app.state, now_millis()).await.unwrap(),
                    0
                );
                // The key expiring in 20 days is told when its week comes.
                let in_two_weeks = now_millis().after(Duration::from_secs(14 * 86_400));
                assert_eq!(
                    send_expiry_notices(&app.state, in_two_weeks).await.unwrap(),
                    1
                );
            }
        },
    )
    .await;
}

#[tokio::test]
async fn the_admins_and_only_they_are_emailed_when_a_webhook_starts_failing() {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    on_each_engine_with(
        |config| {
            config.smtp_url = Some(url.clone());
            config.public_url = Some("https://keys.example.com".to_string());
        },
        |app| {
            let sink = sink.clone();
            async move {
                let before = sink.received().len();
                let (admin, _) = app.signup(&format!("hooks{before}@example.com")).await;
                app.add_member(
                    &admin,
                    &format!("second-admin{before}@example.com"),
                    "admin",
                )
                .await;
                app.add_member(&admin, &format!("writer{before}@example.com"), "read_write")
                    .await;
                // Their two invitations are emailed first.
                let invites_sent = sink.wait_for(before + 2).await.len();
                // A port nobody listens on: every attempt is refused at once.
                let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let target = format!("http://{}/hook", closed.local_addr().unwrap());
                drop(closed);
                admin
                    .call_ok(
                        "webhooks/create",
                        json!({"url": target, "events": ["key.created"]}),
                        StatusCode::CREATED,
                    )
                    .await;
                admin.create_key(json!({"name": "one"})).await;
                let received = sink.wait_for(invites_sent + 2).await;
                let mut told: Vec<String> = received[invites_sent..]
                    .iter()
                    .flat_map(|message| message.recipients.clone())
                    .collect();
                told.sort();
                assert_eq!(
                    told,
                    [
                        format!("<hooks{before}@example.com>"),
                        format!("<second-admin{before}@example.com>")
                    ]
                );
                // The body is quoted-printable: undo its soft line breaks.
                let message = received[invites_sent].data.replace("=\n", "");
                assert!(message.contains("Subject: A keyward webhook is failing"));
                assert!(message.contains(&target), "{message}");
                assert!(
                    message.contains("https://keys.example.com/settings#webhooks-title"),
                    "{message}"
                );
                tokio::time::sleep(Duration::from_millis(800)).await;
                assert_eq!(
                    sink.received().len(),
                    invites_sent + 2,
                    "told once, not at every failed delivery"
                );
            }
        },
    )
    .await;
}
