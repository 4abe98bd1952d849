// A real OpenID provider (panva's certified oidc-provider) on 127.0.0.1 for the tests.
//
//   node provider.mjs CONFIG.json
//
// CONFIG.json (written by tests/oidc/provider.py):
//   port                   0 for any free port, or the port to bind (a restart keeps its port)
//   issuer_path            "" or a path such as "/realms/test"; the provider is mounted there
//   jwks                   {"keys": [private JWKs]}; the first key of a type signs by default
//   id_token_alg           the algorithm of the authorization code client's id_tokens
//   resources              {"<resource indicator>": {"alg", "kid"?, "scope", "access_token_ttl_seconds",
//                           "access_token_format"?: "jwt" (default) or "opaque"}}
//   clients                {"service": {"client_id", "client_secret"}, "web": {...}}
//   cookie_keys            secrets that sign the interaction cookies
//   openid_discovery       false: 404 at <issuer>/.well-known/openid-configuration
//   metadata_issuer        null, or the "issuer" that both metadata documents claim instead
//   dynamic_registration   true: RFC 7591 registration open to anyone (optional, default off)
//   scopes                 scope values supported besides openid and offline_access (optional)
//   extra_clients          more client metadata objects, registered as given (optional): resource
//                          servers that introspect, with their own token_endpoint_auth_method
//   mtls_certificate_header  a header name (optional): turns on the mTLS feature with
//                          certificate-bound access tokens (RFC 8705 section 3), the client's
//                          certificate read from that header as URL-encoded PEM, as a
//                          TLS-terminating proxy in front of the provider would pass it
//
// Token introspection (RFC 7662) is enabled: any authenticated client may introspect any token.
// DPoP (RFC 9449) is enabled: a token request with a DPoP proof (ES256, Ed25519/EdDSA, PS256 or
// RS256) gets a DPoP-bound access token, and a JWT one carries the key's thumbprint in cnf.jkt.
// No server nonces: the provider does not ask its clients for one.
//
// Once it listens it prints one line on stdout, {"port": N, "issuer": "..."}, and it exits when
// its stdin closes, so a test process that dies cannot leave it behind.
//
// What the harness adds around the provider, outside the issuer path:
//   GET    /__harness/stats     {"jwks": n, "openid_configuration": n,
//                                "oauth_authorization_server": n, "paths": {path: n},
//                                "posts": {path: n}}
//   DELETE /__harness/stats     counters back to zero
//   GET    /__harness/callback  the web client's redirect_uri (never needed: the helper reads
//                               the code from the Location header)
// and the RFC 8414 metadata location, /.well-known/oauth-authorization-server<issuer_path>,
// which it routes to the provider's own metadata. The provider itself also answers at
// <issuer>/.well-known/oauth-authorization-server, which is not where RFC 8414 puts it for an
// issuer with a path; the harness answers 404 there, so a client that looks in the wrong place
// fails in the tests too.

import { readFileSync } from 'node:fs';
import * as http from 'node:http';

import Provider, { errors } from 'oidc-provider';

const OPENID_CONFIGURATION = '/.well-known/openid-configuration';
const OAUTH_AUTHORIZATION_SERVER = '/.well-known/oauth-authorization-server';
const STATS_PATH = '/__harness/stats';
const CALLBACK_PATH = '/__harness/callback';
// The Python helper's own requests (is it up? the login pages) are not counted.
const INTERNAL_HEADER = 'x-harness-internal';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuerPath = config.issuer_path;
if (issuerPath !== '' && (!issuerPath.startsWith('/') || issuerPath.endsWith('/'))) {
  throw new Error('issuer_path must be "" or start with "/" and not end with "/"');
}

function emptyStats() {
  return {
    jwks: 0, openid_configuration: 0, oauth_authorization_server: 0, paths: {}, posts: {},
  };
}
let stats = emptyStats();

function count(path) {
  stats.paths[path] = (stats.paths[path] ?? 0) + 1;
  if (path === `${issuerPath}/jwks`) stats.jwks += 1;
  else if (path === `${issuerPath}${OPENID_CONFIGURATION}`) stats.openid_configuration += 1;
  else if (path === `${OAUTH_AUTHORIZATION_SERVER}${issuerPath}`) {
    stats.oauth_authorization_server += 1;
  }
}

function sendJson(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(body === undefined ? undefined : JSON.stringify(body));
}

function notFound(res) {
  sendJson(res, 404, { error: 'not_found' });
}

// Listen first: with port 0 the issuer (which contains the port) is known only afterwards.
let callback;
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  const path = url.pathname;
  if (req.method === 'GET' && !req.headers[INTERNAL_HEADER] && !path.startsWith('/__harness/')) {
    count(path);
  }
  if (req.method === 'POST' && !req.headers[INTERNAL_HEADER] && !path.startsWith('/__harness/')) {
    stats.posts[path] = (stats.posts[path] ?? 0) + 1;
  }

  if (callback === undefined) return sendJson(res, 503, { error: 'starting' });
  if (path === STATS_PATH) {
    if (req.method === 'GET') return sendJson(res, 200, stats);
    if (req.method === 'DELETE') {
      stats = emptyStats();
      return sendJson(res, 204);
    }
    return sendJson(res, 405, { error: 'method_not_allowed' });
  }
  if (path === CALLBACK_PATH) {
    return sendJson(res, 200, Object.fromEntries(url.searchParams));
  }

  if (path === `${OAUTH_AUTHORIZATION_SERVER}${issuerPath}`) {
    // RFC 8414 section 3.1: the provider's own route, as if it had been asked under its mount
    // (the provider derives its endpoint URLs from originalUrl minus url).
    req.originalUrl = `${issuerPath}${OAUTH_AUTHORIZATION_SERVER}${url.search}`;
    req.url = `${OAUTH_AUTHORIZATION_SERVER}${url.search}`;
    return callback(req, res);
  }
  if (issuerPath !== '' && path === `${issuerPath}${OAUTH_AUTHORIZATION_SERVER}`) {
    return notFound(res);
  }
  if (!config.openid_discovery && path === `${issuerPath}${OPENID_CONFIGURATION}`) {
    return notFound(res);
  }
  if (issuerPath !== '') {
    if (path !== issuerPath && !path.startsWith(`${issuerPath}/`)) return notFound(res);
    req.originalUrl = req.url;
    req.url = req.url.slice(issuerPath.length);
    if (!req.url.startsWith('/')) req.url = `/${req.url}`;
  }
  return callback(req, res);
});

server.listen(config.port, '127.0.0.1', () => {
  const { port } = server.address();
  const origin = `http://127.0.0.1:${port}`;
  const issuer = `${origin}${issuerPath}`;
  const { resources, clients } = config;

  const provider = new Provider(issuer, {
    jwks: config.jwks,
    clients: [
      {
        client_id: clients.service.client_id,
        client_secret: clients.service.client_secret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        // Never used by this client, but checked against the keys (default RS256).
        id_token_signed_response_alg: config.id_token_alg,
      },
      {
        client_id: clients.web.client_id,
        client_secret: clients.web.client_secret,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: [`${origin}${CALLBACK_PATH}`],
        id_token_signed_response_alg: config.id_token_alg,
      },
      ...(config.extra_clients ?? []),
    ],
    // A dynamically registered client that names no algorithm gets id_tokens the keys can sign.
    clientDefaults: { id_token_signed_response_alg: config.id_token_alg },
    cookies: { keys: config.cookie_keys },
    scopes: ['openid', 'offline_access', ...(config.scopes ?? [])],
    enabledJWA: {
      // The defaults leave out RS384/RS512, PS384/PS512, ES384 and ES512.
      idTokenSigningAlgValues: [
        'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512',
        'ES256', 'ES384', 'ES512', 'Ed25519', 'EdDSA',
      ],
      // The default is ES256 and Ed25519/EdDSA; the middleware accepts PS256 and RS256 too.
      dPoPSigningAlgValues: ['ES256', 'Ed25519', 'EdDSA', 'PS256', 'RS256'],
    },
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      registration: { enabled: config.dynamic_registration === true },
      introspection: { enabled: true },
      mTLS: {
        enabled: typeof config.mtls_certificate_header === 'string',
        certificateBoundAccessTokens: true,
        getCertificate(ctx) {
          const escaped = ctx.get(config.mtls_certificate_header);
          return escaped ? decodeURIComponent(escaped) : undefined;
        },
      },
      // On by default in oidc-provider 9; said here so that a new default cannot turn it off.
      dPoP: { enabled: true },
      resourceIndicators: {
        enabled: true,
        async getResourceServerInfo(ctx, resourceIndicator) {
          const resource = resources[resourceIndicator];
          if (!resource) throw new errors.InvalidTarget();
          return {
            scope: resource.scope,
            accessTokenTTL: resource.access_token_ttl_seconds,
            accessTokenFormat: resource.access_token_format ?? 'jwt',
            jwt: { sign: resource.kid ? { alg: resource.alg, kid: resource.kid } : { alg: resource.alg } },
          };
        },
      },
    },
  });

  provider.use(async (ctx, next) => {
    await next();
    if (
      config.metadata_issuer !== null
      && ctx.oidc?.route === 'discovery'
      && ctx.status === 200
      && ctx.body
    ) {
      ctx.body = { ...ctx.body, issuer: config.metadata_issuer };
    }
  });
  // The log a failing test shows: what went wrong inside the provider (a 500 says nothing).
  provider.on('server_error', (ctx, error) => console.error('server_error', error));

  callback = provider.callback();
  process.stdout.write(`${JSON.stringify({ port, issuer })}\n`);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
