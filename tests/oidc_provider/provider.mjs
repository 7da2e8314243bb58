// A real OpenID Provider for tests/test_oidc.py: panva's certified oidc-provider, set up for
// tests only. It listens on a free port of 127.0.0.1 and prints one JSON line: its issuer
// URL and the one client registered, a confidential web client. Its development interactions
// give a login form (any login, any password) and a consent form, over plain HTTP.
import crypto from 'node:crypto';
import http from 'node:http';

import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

const ACCOUNTS = {
  ada: { name: 'Ada Lovelace', email: 'ada@example.com', email_verified: true },
};
const client = {
  client_id: 'tornado-app',
  client_secret: crypto.randomBytes(24).toString('base64url'),
  redirect_uris: ['http://127.0.0.1/auth/oidc/login'],
  post_logout_redirect_uris: ['http://127.0.0.1/'],
  response_types: ['code'],
  grant_types: ['authorization_code'],
  token_endpoint_auth_method: 'client_secret_basic',
};

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), kid: 'test-key', use: 'sig', alg: 'RS256' };

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [client],
    jwks: { keys: [signingKey] },
    cookies: { keys: [crypto.randomBytes(24).toString('base64url')] },
    features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
    pkce: { methods: ['S256'], required: () => true }, // a login without PKCE is refused
    claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
    findAccount: (ctx, id) => ({ accountId: id, claims: () => ({ sub: id, ...ACCOUNTS[id] }) }),
  });
  // Each test app runs on a port of its own. As the provider already does for native apps
  // (RFC 8252, 7.3), a loopback URI matches the registered one whatever its port; scheme,
  // host and path must still match exactly.
  const anyPort = (uri) => {
    const url = new URL(uri);
    url.port = '';
    return url.href;
  };
  const allowed = (registered, uri) => {
    try {
      return new URL(uri).hostname === '127.0.0.1' && registered.map(anyPort).includes(anyPort(uri));
    } catch {
      return false;
    }
  };
  provider.Client.prototype.redirectUriAllowed = function redirectUriAllowed(uri) {
    return allowed(this.redirectUris, uri);
  };
  provider.Client.prototype.postLogoutRedirectUriAllowed = function postLogoutAllowed(uri) {
    return allowed(this.postLogoutRedirectUris, uri);
  };
  server.on('request', provider.callback());
  console.log(JSON.stringify({ issuer, client_id: client.client_id, client_secret: client.client_secret }));
});

process.on('SIGTERM', () => process.exit(0));
