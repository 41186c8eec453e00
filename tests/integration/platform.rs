//! The HTTP boundary: health, pages, error shapes, limits, cross-site requests.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn healthz_answers_and_reports_a_dead_database() {
    on_each_engine(|app| async move {
        let client = reqwest::Client::new();
        let response = client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        app.state.pool.close().await;
        let response = client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    })
    .await;
}

#[tokio::test]
async fn the_home_page_is_rendered_on_the_server() {
    on_each_engine(|app| async move {
        let response = reqwest::get(app.url("/")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let html = response.text().await.unwrap();
        assert!(html.contains("API keys that belong to people"), "{html}");
        assert!(
            html.contains("/pkg/keyward"),
            "the hydration scripts are linked"
        );
        let missing = reqwest::get(app.url("/no/such/page")).await.unwrap();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    })
    .await;
}

/// A signed-in page is built once on the server, so each piece of its data is read once and
/// sent once. Built twice, its HTML came from the second reads and the data the browser hydrates
/// from from the first: a key used between the two left a page that never became interactive.
#[tokio::test]
async fn a_signed_in_page_is_rendered_from_one_read_of_its_data() {
    on_each_engine(|app| async move {
        let (ada, _) = app.signup("ada@example.com").await;
        let (key, _) = ada.create_key(json!({"name": "CI deploy"})).await;
        ada.call_ok(
            "checks/create",
            json!({"name": "Homepage", "kind": "api", "url": "https://example.com/health",
                   "frequency_minutes": 5, "activated": true}),
            StatusCode::CREATED,
        )
        .await;
        let key_page = format!("/keys/{}", key["id"].as_str().unwrap());
        // What each page reads, beside who is signed in and the expiring-keys banner (the
        // members page reads the members twice: for its list, and for a picker).
        let pages = [
            (key_page.as_str(), &["the key"][..]),
            ("/keys", &["the keys", "the key policy"]),
            ("/account-keys", &["the keys"]),
            ("/checks", &["the checks"]),
            (
                "/members",
                &[
                    "the members",
                    "the invites",
                    "the service accounts",
                    "the custodian picker",
                ],
            ),
            (
                "/settings",
                &[
                    "the second factors",
                    "the key policy",
                    "single sign-on",
                    "own permissions",
                    "the webhooks",
                ],
            ),
            ("/audit", &["the first events", "the member picker"]),
        ];
        for (path, reads) in pages {
            // How often a page was built twice depended on timing: look several times.
            for _ in 0..3 {
                let response = ada.client.get(app.url(path)).send().await.unwrap();
                assert_eq!(response.status(), StatusCode::OK, "{path}");
                let html = response.text().await.unwrap();
                let sent = serialized_resources(&html);
                assert_eq!(
                    sent.len(),
                    2 + reads.len(),
                    "{path} sent {reads:?} this often: {sent:#?}"
                );
            }
        }
    })
    .await;
}

/// The values a page sends for its resources (`__RESOLVED_RESOURCES[n] = "…"`), for the browser
/// to hydrate from.
fn serialized_resources(html: &str) -> Vec<&str> {
    html.split("__RESOLVED_RESOURCES[")
        .skip(1)
        .filter_map(|entry| entry.split_once("] = "))
        .filter_map(|(_, value)| value.split("</script>").next())
        .collect()
}

#[tokio::test]
async fn errors_have_the_documented_shape() {
    on_each_engine(|app| async move {
        let caller = app.anonymous();
        let (status, body) = caller.call_json("no/such-operation", json!({})).await;
        assert_error(status, &body, 404, "not_found");

        let (status, body) = caller.call_json("auth/me", json!({})).await;
        assert_error(status, &body, 401, "unauthenticated");

        let response = caller
            .client
            .post(app.url("/api/v1/auth/login"))
            .header("content-type", "application/json")
            .body("this is not json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_input");

        let (status, body) = caller
            .call_json("auth/login", json!({"email": "ada@example.com"}))
            .await;
        assert_error(status, &body, 400, "invalid_input");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("password"),
            "{body}"
        );

        let huge = "x".repeat(70 * 1024);
        let (status, body) = caller
            .call_json("auth/login", json!({"email": huge, "password": "x"}))
            .await;
        assert_error(status, &body, 413, "payload_too_large");

        // A caller that says it accepts HTML still gets the JSON answer, not a redirect.
        let html_caller = caller
            .client
            .post(app.url("/api/v1/auth/signup"))
            .header("accept", "text/html")
            .header("referer", app.url("/signup"))
            .json(&json!({"email": "html@example.com", "password": PASSWORD, "account_name": "H"}))
            .send()
            .await
            .unwrap();
        assert_eq!(html_caller.status(), StatusCode::CREATED);
        let body: serde_json::Value = html_caller.json().await.unwrap();
        assert_eq!(body["role"], "admin");

        let get = caller
            .client
            .get(app.url("/api/v1/auth/me"))
            .send()
            .await
            .unwrap();
        assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
        let body: serde_json::Value = get.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_input");
    })
    .await;
}

#[tokio::test]
async fn cookie_calls_from_another_origin_are_refused() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("csrf@example.com").await;
        let forged = admin
            .client
            .post(app.url("/api/v1/checks/create"))
            .header("origin", "https://evil.example")
            .json(&json!({"name": "x", "kind": "api", "url": "https://a.example", "frequency_minutes": 5, "activated": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), StatusCode::FORBIDDEN);
        let fetch_metadata = admin
            .client
            .post(app.url("/api/v1/members/list"))
            .header("sec-fetch-site", "cross-site")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(fetch_metadata.status(), StatusCode::FORBIDDEN);
        let (_, checks) = admin.call_json("checks/list", json!({})).await;
        assert_eq!(checks["checks"].as_array().unwrap().len(), 0, "the forged create did nothing");

        let host = app.address.trim_start_matches("http://").to_string();
        let same_origin = admin
            .client
            .post(app.url("/api/v1/members/list"))
            .header("origin", format!("http://{host}"))
            .header("sec-fetch-site", "same-origin")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(same_origin.status(), StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn the_openapi_document_describes_every_operation() {
    on_each_engine(|app| async move {
        let response = reqwest::get(app.url("/api/openapi.json")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let document: serde_json::Value = response.json().await.unwrap();
        assert!(document["openapi"].as_str().unwrap().starts_with("3."));
        let paths = document["paths"].as_object().unwrap();
        // Every server function, and the streamed export (a GET with query parameters).
        assert_eq!(paths.len(), keyward::host::openapi::OPERATIONS.len() + 1);
        let export = &paths["/api/v1/audit/export"]["get"];
        assert_eq!(export["parameters"][0]["name"], "format");
        assert!(export["responses"]["200"]["content"]["text/csv; charset=utf-8"].is_object());
        let create = &paths["/api/v1/keys/create"]["post"];
        assert!(create["responses"]["201"].is_object());
        assert!(create["responses"]["401"].is_object());
        assert_eq!(create["security"][0]["bearer"], json!([]));
        let schemas = &document["components"]["schemas"];
        assert!(schemas["CreateKeyRequest"]["properties"]["role_cap"].is_object());
        assert!(
            schemas["Key"]["properties"].get("secret").is_none(),
            "a key view has no secret"
        );
        assert!(document["components"]["securitySchemes"]["bearer"].is_object());
    })
    .await;
}

/// Enums are documented with the spellings the API sends.
#[tokio::test]
async fn documented_enums_use_their_wire_spellings() {
    let document = keyward::host::openapi::document_json();
    let actions = &document["components"]["schemas"]["AuditAction"]["enum"];
    assert!(
        actions
            .as_array()
            .unwrap()
            .contains(&json!("policy.changed")),
        "{actions}"
    );
    assert_eq!(
        document["components"]["schemas"]["ActorType"]["enum"][1],
        "user_key"
    );
}

/// Starts keyward with its site (the bundle, public files) in `site`; returns its address.
async fn serve_site(site: &std::path::Path) -> std::net::SocketAddr {
    let data_dir = site.join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    let mut options = leptos::config::get_configuration(Some("Cargo.toml"))
        .unwrap()
        .leptos_options;
    options.site_root = site.to_string_lossy().into_owned().into();
    options.hash_files = false;
    let server = keyward::host::router::build(
        keyward::server::config::Config::for_tests(&data_dir, None),
        options,
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(keyward::host::router::serve(listener, server));
    address
}

/// Sends `GET path` on an open keep-alive connection and reads the whole answer (headers, then
/// `Content-Length` bytes of body); returns how long that took.
async fn fetch_on(connection: &mut tokio::net::TcpStream, path: &str) -> std::time::Duration {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let started = std::time::Instant::now();
    connection
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: keyward.test\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let read = connection.read(&mut buffer).await.unwrap();
        assert!(read > 0, "{path}: the connection closed");
        received.extend_from_slice(&buffer[..read]);
        let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&received[..end]).to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{path}: {head}");
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .expect("a Content-Length")
            .trim()
            .parse()
            .unwrap();
        if received.len() >= end + 4 + length {
            return started.elapsed();
        }
    }
}

/// Browsers fetch a page's files one after another on a kept-alive connection. Without
/// TCP_NODELAY each answer written in two parts (head, then body) waited for the client's
/// delayed ACK: about 40 ms a file, measured with curl. Each must now take a few milliseconds.
#[tokio::test]
async fn static_files_on_a_kept_alive_connection_do_not_stall() {
    let site = std::env::temp_dir().join(format!("keyward-site-{}", std::process::id()));
    std::fs::remove_dir_all(&site).ok();
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    std::fs::write(
        site.join("pkg/app.css"),
        "body { color: black; }\n".repeat(400),
    )
    .unwrap();
    std::fs::write(site.join("pkg/app.js"), "console.log(1);\n".repeat(1500)).unwrap();
    std::fs::write(
        site.join("favicon.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
    )
    .unwrap();
    let address = serve_site(&site).await;

    let mut connection = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut times = Vec::new();
    for _ in 0..3 {
        for path in ["/healthz", "/pkg/app.css", "/pkg/app.js", "/favicon.svg"] {
            times.push((path, fetch_on(&mut connection, path).await));
        }
    }
    let slow: Vec<_> = times
        .iter()
        .filter(|(_, took)| *took > std::time::Duration::from_millis(20))
        .collect();
    // One slow answer can be a busy machine; a stall shows on most of them.
    assert!(
        slow.len() <= 1,
        "answers over 20 ms: {slow:?} (all: {times:?})"
    );
    std::fs::remove_dir_all(&site).ok();
}

/// The release build writes `.br` and `.gz` beside each file of the bundle: a browser that
/// accepts them gets the compressed bytes, any other client the file itself. A file with an
/// unhashed name is revalidated before each use.
#[tokio::test]
async fn the_bundle_is_sent_precompressed_to_browsers_that_accept_it() {
    let site = std::env::temp_dir().join(format!("keyward-bundle-{}", std::process::id()));
    std::fs::remove_dir_all(&site).ok();
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    std::fs::write(site.join("pkg/app.wasm"), vec![7u8; 50_000]).unwrap();
    std::fs::write(site.join("pkg/app.wasm.br"), b"brotli bytes").unwrap();
    std::fs::write(site.join("pkg/app.wasm.gz"), b"gzip bytes").unwrap();
    let address = serve_site(&site).await;
    // No automatic decompression: what arrives is what was sent.
    let client = reqwest::Client::builder().build().unwrap();
    let url = format!("http://{address}/pkg/app.wasm");
    for (accepted, encoding, body) in [
        ("br, gzip", Some("br"), b"brotli bytes".to_vec()),
        ("gzip", Some("gzip"), b"gzip bytes".to_vec()),
        ("identity", None, vec![7u8; 50_000]),
    ] {
        let response = client
            .get(&url)
            .header("accept-encoding", accepted)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers().clone();
        assert_eq!(
            headers
                .get("content-encoding")
                .map(|value| value.to_str().unwrap()),
            encoding,
            "{accepted}"
        );
        assert_eq!(headers["cache-control"], "no-cache");
        assert!(headers.contains_key("last-modified"));
        assert_eq!(response.bytes().await.unwrap().to_vec(), body, "{accepted}");
    }
    std::fs::remove_dir_all(&site).ok();
}

/// Pages go out compressed to a browser that accepts it (the keys page with its data as much as
/// the start page); API answers never do: one carrying a new key's secret, compressed beside
/// text an attacker chose, could give the secret away by its length (BREACH).
#[tokio::test]
async fn pages_are_compressed_and_api_answers_are_not() {
    on_each_engine(|app| async move {
        let (person, _) = app.signup("compressed@example.com").await;
        // No automatic decompression in these tests' client: what arrives is what was sent.
        for (path, words) in [
            ("/", "API keys that belong to people"),
            ("/keys", "Your keys in"),
        ] {
            let plain = person.client.get(app.url(path)).send().await.unwrap();
            assert_eq!(plain.status(), StatusCode::OK, "{path}");
            assert!(!plain.headers().contains_key("content-encoding"), "{path}");
            let plain = plain.text().await.unwrap();
            assert!(plain.contains(words), "{path}: {plain}");
            for encoding in ["br", "gzip"] {
                let page = person
                    .client
                    .get(app.url(path))
                    .header("accept-encoding", encoding)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(page.status(), StatusCode::OK, "{path}");
                assert_eq!(page.headers()["content-encoding"], encoding, "{path}");
                assert_eq!(page.headers()["vary"], "accept-encoding", "{path}");
                let sent = page.bytes().await.unwrap().len();
                assert!(
                    sent * 2 < plain.len(),
                    "{path} in {encoding}: {sent} bytes of {}",
                    plain.len()
                );
            }
        }
        let created = person
            .client
            .post(app.url("/api/v1/keys/create"))
            .header("accept-encoding", "br, gzip")
            .json(&json!({"name": "CI deploy"}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), StatusCode::CREATED);
        assert!(!created.headers().contains_key("content-encoding"));
        let created: serde_json::Value = created.json().await.unwrap();
        assert!(created["secret"].as_str().unwrap().starts_with("kw_"));
    })
    .await;
}

/// Bundle files are named by their content's hash (`keyward.<hash>.wasm`): a browser keeps them
/// for a year without asking again, and a new release brings new names.
#[tokio::test]
async fn hashed_bundle_files_are_cached_for_good() {
    let site = std::env::temp_dir().join(format!("keyward-hashed-{}", std::process::id()));
    std::fs::remove_dir_all(&site).ok();
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    std::fs::write(site.join("pkg/keyward.Xy12_Ab.wasm"), vec![1u8; 1000]).unwrap();
    std::fs::write(site.join("pkg/keyward.css"), "body {}").unwrap();
    let address = serve_site(&site).await;
    let client = reqwest::Client::new();
    for (path, caching) in [
        (
            "/pkg/keyward.Xy12_Ab.wasm",
            "public, max-age=31536000, immutable",
        ),
        ("/pkg/keyward.css", "no-cache"),
    ] {
        let response = client
            .get(format!("http://{address}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()["cache-control"], caching, "{path}");
    }
    let missing = client
        .get(format!("http://{address}/pkg/keyward.old.wasm"))
        .send()
        .await
        .unwrap();
    assert_ne!(missing.status(), StatusCode::OK);
    assert_ne!(
        missing
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap()),
        Some("public, max-age=31536000, immutable"),
        "a missing file must not be cached for a year"
    );
    std::fs::remove_dir_all(&site).ok();
}
