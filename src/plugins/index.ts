import { Registry } from '../core/registry.js';
import apiKey from './authenticate/api-key/index.js';
import authLockout from './authenticate/auth-lockout/index.js';
import authentication from './authenticate/authentication/index.js';
import httpSignature from './authenticate/http-signature/index.js';
import introspection from './authenticate/introspection/index.js';
import jwt from './authenticate/jwt/index.js';
import mtls from './authenticate/mtls/index.js';
import tokenBinding from './authenticate/token-binding/index.js';
import authorization from './authorize/authorization/index.js';
import policy from './authorize/policy/index.js';
import rbac from './authorize/rbac/index.js';
import clientCertificate from './guard/client-certificate/index.js';
import cors from './guard/cors/index.js';
import ipRules from './guard/ip-rules/index.js';
import requestGuard from './guard/request-guard/index.js';
import accessLog from './log/access-log/index.js';
import forward from './proxy/forward/index.js';
import loadShedding from './rate-limit/load-shedding/index.js';
import loginThrottle from './rate-limit/login-throttle/index.js';
import rateLimit from './rate-limit/rate-limit/index.js';
import responseHygiene from './respond/response-hygiene/index.js';
import securityHeaders from './respond/security-headers/index.js';
import versionLifecycle from './respond/version-lifecycle/index.js';
import router from './route/router/index.js';
import attackDetection from './validate/attack-detection/index.js';
import contract from './validate/contract/index.js';
import virtualPatch from './validate/virtual-patch/index.js';

/** The registry with every built-in plugin. Later stages register here, one line each. */
export function createDefaultRegistry(): Registry {
  return new Registry()
    .register(router)
    .register(requestGuard)
    .register(forward)
    .register(responseHygiene)
    .register(securityHeaders)
    .register(versionLifecycle)
    .register(ipRules)
    .register(cors)
    .register(clientCertificate)
    .register(accessLog)
    .register(apiKey)
    .register(authLockout)
    .register(authentication)
    .register(httpSignature)
    .register(introspection)
    .register(jwt)
    .register(mtls)
    .register(tokenBinding)
    .register(authorization)
    .register(policy)
    .register(rbac)
    .register(rateLimit)
    .register(loginThrottle)
    .register(loadShedding)
    .register(contract)
    .register(attackDetection)
    .register(virtualPatch);
}
