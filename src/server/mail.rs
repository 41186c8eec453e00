//! Email, when `KEYWARD_SMTP_URL` is set: invitations, and notices to key owners 7 days before
//! a key expires and when it has. Mail is best effort and never fails the request that caused
//! it: an invite is still a link the Admin can copy, and an expiry notice that could not be
//! sent is tried again on the next round.

use crate::domain::time::Millis;
use crate::server::config::SmtpUrl;
use crate::server::config::{MAIL_FROM_VAR, SMTP_URL_VAR};
use crate::server::stores::keys::notices::ExpiringKey;
use crate::server::{stores, AppState};
use anyhow::{Context, Result};
use lettre::{message::Mailbox, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

impl SmtpUrl {
    /// Scheme, host and port: what a log line may say about it.
    pub fn server(&self) -> String {
        crate::server::config::url_without_credentials(&self.0, "smtp")
    }
}

/// One email: plain text, to one person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Letter {
    pub to: String,
    pub subject: String,
    pub body: String,
}

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn new(url: &SmtpUrl, from: &str) -> Result<Mailer> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url.0)
            .with_context(|| format!("{SMTP_URL_VAR} ({}) is not an SMTP URL", url.server()))?
            .build();
        let from = from
            .parse()
            .with_context(|| format!("{MAIL_FROM_VAR} ({from:?}) is not an email address"))?;
        Ok(Mailer { transport, from })
    }

    pub async fn send(&self, letter: &Letter) -> Result<()> {
        let message = Message::builder()
            .from(self.from.clone())
            .to(letter.to.parse().context("not an email address")?)
            .subject(&letter.subject)
            .body(letter.body.clone())?;
        self.transport.send(message).await?;
        Ok(())
    }
}

/// Sends `letter` in the background when mail is configured; says whether it went on its way.
pub fn send_later(state: &AppState, letter: Letter) -> bool {
    let Some(mailer) = state.mailer.clone() else {
        return false;
    };
    tokio::spawn(async move {
        if let Err(error) = mailer.send(&letter).await {
            tracing::warn!(%error, subject = %letter.subject, "could not send an email");
        }
    });
    true
}

pub fn invite_letter(
    to: &str,
    account_name: &str,
    invited_by: Option<&str>,
    role: crate::domain::Role,
    invite_url: &str,
    expires_at: &str,
) -> Letter {
    let who = invited_by.unwrap_or("An Admin");
    Letter {
        to: to.to_string(),
        subject: format!("You are invited to {account_name} on keyward"),
        body: format!(
            "{who} invited you to the account \"{account_name}\" on keyward, with the role {role}.\n\n\
             Accept the invitation here (the link works once, until {expires_at}):\n\n{invite_url}\n\n\
             If you did not expect this, ignore this email: nothing happens unless the link is used.\n",
            role = role.label(),
        ),
    }
}

pub fn expiry_letter(key: &ExpiringKey, now: Millis, keys_url: Option<&str>) -> Letter {
    let when = key.expires_at.rfc3339();
    let where_to = keys_url.map_or_else(
        || "on the API keys page of keyward".to_string(),
        |url| format!("at {url}"),
    );
    if key.expires_at <= now {
        Letter {
            to: key.email.clone(),
            subject: format!("Your keyward key \"{}\" has expired", key.name),
            body: format!(
                "Your API key \"{}\" ({}) in {} expired at {when}. Programs using it now get 401.\n\n\
                 Create a new key {where_to} and give it to whatever used the old one.\n",
                key.name, key.hint, key.account_name
            ),
        }
    } else {
        let days =
            crate::domain::key_state::expires_in_days(now, Some(key.expires_at)).unwrap_or(1);
        Letter {
            to: key.email.clone(),
            subject: format!(
                "Your keyward key \"{}\" expires in {days} day{}",
                key.name,
                if days == 1 { "" } else { "s" }
            ),
            body: format!(
                "Your API key \"{}\" ({}) in {} expires at {when}.\n\n\
                 Rotate it {where_to}: the new secret keeps the key's settings, and the old one can \
                 keep working for up to 7 days while you replace it. Programs calling keyward with \
                 it also see a Keyward-Key-Warning header.\n",
                key.name, key.hint, key.account_name
            ),
        }
    }
}

/// One round of expiry notices: each key is claimed in the database before its email is sent
/// (so several instances never send the same notice twice) and released if sending failed, to
/// be tried again next round. Returns how many emails were sent.
pub async fn send_expiry_notices(state: &AppState, now: Millis) -> Result<usize> {
    let Some(mailer) = state.mailer.clone() else {
        return Ok(0);
    };
    let keys_url = state
        .config
        .public_url
        .as_ref()
        .map(|base| format!("{base}/keys"));
    let mut sent = 0;
    for notice in [
        stores::keys::notices::Notice::ExpiresSoon,
        stores::keys::notices::Notice::Expired,
    ] {
        for key in stores::keys::notices::due_for_notice(&state.pool, notice, now).await? {
            if !stores::keys::notices::claim_notice(&state.pool, notice, &key.id, now).await? {
                continue;
            }
            match mailer
                .send(&expiry_letter(&key, now, keys_url.as_deref()))
                .await
            {
                Ok(()) => sent += 1,
                Err(error) => {
                    tracing::warn!(%error, key_id = %key.id, "could not send an expiry notice; will retry");
                    stores::keys::notices::release_notice(&state.pool, notice, &key.id).await?;
                }
            }
        }
    }
    Ok(sent)
}
