import { Registry } from '../core/registry.js';
import clientCertificate from './guard/client-certificate/index.js';
import cors from './guard/cors/index.js';
import ipRules from './guard/ip-rules/index.js';
import requestGuard from './guard/request-guard/index.js';
import accessLog from './log/access-log/index.js';
import forward from './proxy/forward/index.js';
import responseHygiene from './respond/response-hygiene/index.js';
import securityHeaders from './respond/security-headers/index.js';
import router from './route/router/index.js';

/** The registry with every built-in plugin. Later stages register here, one line each. */
export function createDefaultRegistry(): Registry {
  return new Registry()
    .register(router)
    .register(requestGuard)
    .register(forward)
    .register(responseHygiene)
    .register(securityHeaders)
    .register(ipRules)
    .register(cors)
    .register(clientCertificate)
    .register(accessLog);
}
