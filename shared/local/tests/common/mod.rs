//! What the tests of the real `cjaas-local` binary share.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running `cjaas-local serve`, killed (not shut down) when dropped.
pub struct Server {
    child: Child,
    pub base: String,
    pub token: String,
    #[allow(dead_code)] // read by some test binaries only
    pub first_key: Option<String>,
}

impl Server {
    /// One API call with the server's token: a JSON body (a CloudEvents batch on
    /// `/v1/events`); the status and the JSON answer (`null` when there is none).
    #[allow(dead_code)] // called by some test binaries only
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = reqwest::Client::new()
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            let content_type = if path == "/v1/events" {
                "application/cloudevents-batch+json"
            } else {
                "application/json"
            };
            request = request
                .header("content-type", content_type)
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// Makes a key through `POST /v1/keys` with the first start's admin key; its token.
    #[allow(dead_code)] // called by some test binaries only
    pub async fn create_key(&self, request: serde_json::Value) -> String {
        let admin = self
            .first_key
            .as_ref()
            .expect("the first start prints a key");
        let response = reqwest::Client::new()
            .post(format!("{}/v1/keys", self.base))
            .bearer_auth(admin)
            .json(&request)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(status, 201, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[allow(dead_code)] // not every test binary uses both
pub fn start(data_dir: &Path) -> Server {
    start_with(data_dir, &[])
}

/// `start`, with more environment variables (e.g. `CJAAS_ALLOW_PRIVATE_TARGETS`).
#[allow(dead_code)]
pub fn start_with(data_dir: &Path, env: &[(&str, &str)]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cjaas-local"))
        .envs(env.iter().copied())
        .env("CJAAS_DATA_DIR", data_dir)
        .env("CJAAS_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut base, mut first_key) = (None, None);
    for line in lines.by_ref() {
        let line = line.expect("stdout is text");
        if let Some(addr) = line.strip_prefix("CJaaS (embedded default) listening on ") {
            base = Some(addr.trim().to_owned());
        } else if line.trim_start().starts_with("cjk_") {
            first_key = Some(line.trim().to_owned());
        } else if let Some(token) = line.trim().strip_prefix("export CJAAS_TOKEN=") {
            return Server {
                child,
                base: base.expect("the address comes first"),
                token: token.to_owned(),
                first_key,
            };
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the server never printed its token");
}
