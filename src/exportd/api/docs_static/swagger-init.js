// Starts Swagger UI on /docs. A file rather than an inline script, so the page runs
// under a Content-Security-Policy that allows scripts from its own origin only.
"use strict";
window.ui = SwaggerUIBundle({
  url: document.body.dataset.openapi,
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null, // its badge is an image from swagger.io: nothing leaves this host
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  // "Try it out" calls the server this page came from: the document's servers entry is
  // EXPORTD_PUBLIC_URL, which a reader behind another name cannot reach under this
  // page's CSP (connect-src 'self').
  requestInterceptor: (request) => {
    const target = new URL(request.url, window.location.href);
    request.url = window.location.origin + target.pathname + target.search;
    return request;
  },
});
