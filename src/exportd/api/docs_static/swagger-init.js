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
});
