//! The AWS SDK's HTTP client, on reqwest: the HTTP/1.1 + rustls (ring) stack the
//! webhook and enrichment calls already use, so a Lambda binary links one HTTP client
//! instead of two, and no HTTP/2 (the SDK's own client always brings h2). Its trusted
//! roots are the bundled Mozilla set (`webpki-roots`), as for the webhooks: nothing is
//! read from the host's certificate store at start-up (DECISIONS.md, "The SDK's HTTP
//! client is reqwest").
//!
//! The SDK asks for a connector per request attempt, with the attempt's timeouts; one
//! reqwest client (and its connection pool) is built per distinct pair of timeouts and
//! kept.

use std::sync::Mutex;
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;

type Timeouts = (Option<Duration>, Option<Duration>);

/// An [`HttpClient`] for the SDK config (`aws_config::ConfigLoader::http_client`).
#[derive(Debug, Default)]
pub struct ReqwestHttpClient {
    connectors: Mutex<Vec<(Timeouts, SharedHttpConnector)>>,
}

impl HttpClient for ReqwestHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let timeouts = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self.connectors.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, connector)) = connectors.iter().find(|(key, _)| *key == timeouts) {
            return connector.clone();
        }
        let connector = SharedHttpConnector::new(ReqwestConnector::new(timeouts));
        connectors.push((timeouts, connector.clone()));
        connector
    }
}

/// One reqwest client with the SDK's timeouts. Redirects are handed back to the SDK
/// (S3 answers a wrong region with one), never followed. A client that could not be
/// built (reqwest's TLS set-up failing) fails each request instead of the process.
#[derive(Debug)]
struct ReqwestConnector {
    client: Result<reqwest::Client, String>,
}

impl ReqwestConnector {
    fn new((connect, read): Timeouts) -> Self {
        let mut builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
        if let Some(timeout) = connect {
            builder = builder.connect_timeout(timeout);
        }
        if let Some(timeout) = read {
            builder = builder.read_timeout(timeout);
        }
        let client = builder.build().map_err(|e| e.to_string());
        Self { client }
    }
}

impl HttpConnector for ReqwestConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        HttpConnectorFuture::new(async move {
            let client = client.map_err(|e| ConnectorError::other(e.into(), None))?;
            let request = to_reqwest(request)?;
            let response = client.execute(request).await.map_err(connector_error)?;
            let response = http::Response::from(response).map(SdkBody::from_body_1_x);
            HttpResponse::try_from(response).map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// The SDK's request as reqwest's. An in-memory body (every request but a streamed
/// upload) stays a sized, reusable body; a stream is passed through.
fn to_reqwest(request: HttpRequest) -> Result<reqwest::Request, ConnectorError> {
    let request = request
        .try_into_http1x()
        .map_err(|e| ConnectorError::user(e.into()))?;
    let request = request.map(|body| match body.bytes() {
        Some(bytes) => reqwest::Body::from(bytes::Bytes::copy_from_slice(bytes)),
        None => reqwest::Body::wrap(body),
    });
    reqwest::Request::try_from(request).map_err(|e| ConnectorError::user(e.into()))
}

/// reqwest's error, classified as the SDK's retry strategy expects: timeouts and
/// connection or transfer failures are transient, a request reqwest cannot build is
/// the caller's.
fn connector_error(error: reqwest::Error) -> ConnectorError {
    if error.is_timeout() {
        ConnectorError::timeout(error.into())
    } else if error.is_builder() {
        ConnectorError::user(error.into())
    } else if error.is_connect() || error.is_request() || error.is_body() {
        ConnectorError::io(error.into())
    } else {
        ConnectorError::other(error.into(), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;

    fn components() -> RuntimeComponents {
        RuntimeComponentsBuilder::for_tests().build().unwrap()
    }

    #[test]
    fn one_connector_is_kept_per_pair_of_timeouts() {
        let client = ReqwestHttpClient::default();
        let short = HttpConnectorSettings::builder()
            .connect_timeout(Duration::from_secs(1))
            .build();
        let none = HttpConnectorSettings::builder().build();
        client.http_connector(&short, &components());
        client.http_connector(&none, &components());
        client.http_connector(&short, &components());
        assert_eq!(client.connectors.lock().unwrap().len(), 2);
    }

    /// A server on 127.0.0.1 that answers each connection with `answer` (nothing when
    /// empty, keeping the connection open), and its URL.
    async fn server(answer: &'static str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = socket.read(&mut request).await;
                    if !answer.is_empty() {
                        let _ = socket.write_all(answer.as_bytes()).await;
                    }
                    tokio::time::sleep(Duration::from_secs(5)).await;
                });
            }
        });
        url
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_transient_io_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let connector = ReqwestConnector::new((Some(Duration::from_secs(2)), None));
        let request = HttpRequest::get(format!("http://127.0.0.1:{port}/")).unwrap();
        let error = connector.call(request).await.unwrap_err();
        assert!(error.is_io(), "{error:?}");
    }

    #[tokio::test]
    async fn a_silent_server_is_a_read_timeout() {
        let url = server("").await;
        let connector = ReqwestConnector::new((None, Some(Duration::from_millis(200))));
        let error = connector
            .call(HttpRequest::get(url).unwrap())
            .await
            .unwrap_err();
        assert!(error.is_timeout(), "{error:?}");
    }

    #[tokio::test]
    async fn a_redirect_is_handed_back_with_its_headers_and_body() {
        let url = server(
            "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://elsewhere.invalid/\r\n\
             x-amz-bucket-region: eu-west-1\r\ncontent-length: 5\r\n\r\nmoved",
        )
        .await;
        let connector = ReqwestConnector::new((None, None));
        let response = connector
            .call(HttpRequest::get(url).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 307);
        assert_eq!(
            response.headers().get("x-amz-bucket-region"),
            Some("eu-west-1")
        );
        let body = aws_smithy_types::byte_stream::ByteStream::new(response.into_body());
        assert_eq!(
            body.collect().await.unwrap().into_bytes().as_ref(),
            b"moved"
        );
    }
}
