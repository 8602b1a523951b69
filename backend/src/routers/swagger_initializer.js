// Swagger UI's start-up script for /docs, served in place of the stock one. It starts the UI
// with the configuration the server writes in below, plus one plugin: once you sign in with
// "Authorize" (the OAuth2 password form or a pasted bearer token), it asks /api/v1/auth/me who
// you are and fills your id into the `user_id` field of every operation under
// /api/v1/users/{user_id}, so that "Try it out" works without copying it by hand.

/** The `user_id` of every operation is the signed-in user's; this fills it in. */
function FillUserId(system) {
  const methods = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

  /** The access token of the current authorization, if any. */
  function accessToken() {
    const authorized = system.authSelectors.authorized();
    return authorized.getIn(['oauth2', 'token', 'access_token']) || authorized.getIn(['bearer', 'value']);
  }

  async function fill() {
    const token = accessToken();
    if (!token) return;
    const response = await fetch('/api/v1/auth/me', { headers: { Authorization: `Bearer ${token}` } });
    if (!response.ok) return; // A wrong token: the operations will answer 401 and say why.
    const { id } = await response.json();
    const paths = system.specSelectors.specJson().get('paths');
    if (!paths) return;
    paths.forEach((item, path) => {
      if (!path.includes('{user_id}')) return;
      for (const method of methods) {
        if (item.has(method)) system.specActions.changeParam([path, method], 'user_id', 'path', id);
      }
    });
  }

  /** Runs the original action, then fills the id in. */
  const thenFill = (action) => (payload) => {
    const result = action(payload);
    fill().catch(() => {});
    return result;
  };

  return {
    statePlugins: {
      auth: {
        wrapActions: {
          // A pasted bearer token ("bearer").
          authorize: thenFill,
          // The OAuth2 password flow against /api/v1/auth/login ("oauth2").
          authorizeOauth2: thenFill,
        },
      },
    },
  };
}

window.onload = function () {
  // The server replaces this string with the Swagger UI configuration (utoipa_swagger_ui::Config).
  const config = '{{config}}';
  window.ui = SwaggerUIBundle({
    ...config,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl, FillUserId],
  });
};
