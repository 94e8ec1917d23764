import { Registry } from '../core/registry.js';
import requestGuard from './guard/request-guard/index.js';
import accessLog from './log/access-log/index.js';
import forward from './proxy/forward/index.js';
import responseHygiene from './respond/response-hygiene/index.js';
import router from './route/router/index.js';

/** The registry with every built-in plugin. Later stages register here, one line each. */
export function createDefaultRegistry(): Registry {
  return new Registry()
    .register(router)
    .register(requestGuard)
    .register(forward)
    .register(responseHygiene)
    .register(accessLog);
}
