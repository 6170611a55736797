// The identity provider of the `elevate login` tests: node oidc-provider, which nobody here
// wrote, with the device authorization grant (RFC 8628) on and its development sign-in pages
// (any user name signs in, then consents). Standing in for Entra ID issuing access tokens for
// Elevate's API, its access tokens are JWTs for AUDIENCE with the claims Entra puts in them:
// the user's object id (`oid`, from USERS), the tenant (`tid`), the delegated scope (`scp`)
// and app roles (`roles`, from USERS). Usage:
//   node device-oidc.mjs AUDIENCE TENANT USERS_JSON   (USERS_JSON: {"upn": {"oid", "roles"}})
// It listens on a port the system picks (a port chosen by the caller and freed again could be
// taken by another test before node binds it) and prints `ready <issuer>` once it answers.
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const [audience, tenant, usersJson] = process.argv.slice(2);
const users = JSON.parse(usersJson);
const scope = 'Elevate.Access';
const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'elevate-cli',
    token_endpoint_auth_method: 'none',
    grant_types: ['urn:ietf:params:oauth:grant-type:device_code'],
    response_types: [],
    redirect_uris: [],
  }],
  scopes: ['openid', scope],
  features: {
    devInteractions: { enabled: true },
    deviceFlow: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({ scope, audience, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } }),
    },
  },
  findAccount: (ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
  extraTokenClaims: (ctx, token) => {
    const user = users[token.accountId];
    if (!user) return {};
    return { oid: user.oid, tid: tenant, scp: scope, roles: user.roles };
  },
});

server.on('request', provider.callback());
console.log(`ready ${issuer}`);
