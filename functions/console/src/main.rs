//! The browser's static files, embedded in the binary: the console (`GET /`), the web
//! components (`/v1/components.js`) and the API reference (`/docs…`). No credential,
//! no setting and no AWS call.
use cjaas_aws::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    lambda::serve_public(lambda::console_router()).await
}
