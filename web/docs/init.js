// The API reference: Swagger UI over docs/openapi.yaml, all served by CJaaS itself (no
// network beyond it). "Try it out" calls the server this page came from: the local
// server's default address in the spec is rewritten to this page's origin.
window.ui = SwaggerUIBundle({
  url: "/docs/openapi.yaml",
  dom_id: "#api-reference",
  deepLinking: true,
  persistAuthorization: false,
  tryItOutEnabled: true,
  validatorUrl: null,
  requestInterceptor: (request) => {
    request.url = request.url.replace(/^http:\/\/127\.0\.0\.1:8080(?=\/|$)/, location.origin);
    return request;
  },
});
