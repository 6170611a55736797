// The OpenID Connect provider of the sign-in tests: oauth2-mock-server, which nobody here
// wrote, with hooks so that a test can choose who signs in (`login_hint`) and whether with
// multi-factor authentication (`acr_values=mfa`), which claims the ID token carries besides
// (`test_claims`, a JSON object added to the authorize URL by the test acting as the browser;
// a null value removes a claim), and, standing in for Entra ID issuing access
// tokens for Elevate's API, shape a client-credentials token's claims (a `claims` JSON form
// field merged into the token, e.g. aud, upn, roles, exp). Usage: node mock-oidc.mjs
// It listens on a port the system picks (one chosen by the caller and freed again could be
// taken by another test before node binds it) and prints `ready <issuer>`.
import { OAuth2Server } from 'oauth2-mock-server';

const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');
const sessions = new Map(); // authorization code -> { user, mfa }

server.service.on('beforeAuthorizeRedirect', (redirect, req) => {
  const code = redirect.url.searchParams.get('code');
  const user = typeof req.query.login_hint === 'string' ? req.query.login_hint : 'alice@example.com';
  const mfa = typeof req.query.acr_values === 'string' && req.query.acr_values.includes('mfa');
  const claims = typeof req.query.test_claims === 'string' ? JSON.parse(req.query.test_claims) : {};
  sessions.set(code, { user, mfa, claims });
});

server.service.on('beforeTokenSigning', (token, req) => {
  if (req.body.grant_type === 'client_credentials' && typeof req.body.claims === 'string') {
    Object.assign(token.payload, JSON.parse(req.body.claims));
    return;
  }
  const session = sessions.get(req.body.code);
  if (!session) return;
  token.payload.preferred_username = session.user;
  token.payload.amr = session.mfa ? ['pwd', 'mfa'] : ['pwd'];
  for (const [name, value] of Object.entries(session.claims)) {
    if (value === null) delete token.payload[name];
    else token.payload[name] = value;
  }
});

await server.start(0, '127.0.0.1');
console.log(`ready ${server.issuer.url}`);
