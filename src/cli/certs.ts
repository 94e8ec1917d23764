import { relative } from 'node:path';

/**
 * `portcullis certs dev [--out DIR]`: writes a throwaway CA, a localhost server certificate
 * and mTLS client certificates into DIR. Prints paths and usage only, never key material.
 */
export async function certsDevCommand(
  outDir: string,
  out: NodeJS.WritableStream = process.stdout,
): Promise<void> {
  // Loaded on demand: the x509 library (and the Reflect polyfill it needs) stays out of `start`.
  const { createDevCertificates, writeDevCertificates } = await import('../server/dev-certs.js');
  const files = await writeDevCertificates(outDir, await createDevCertificates());
  const show = (p: string): string => relative(process.cwd(), p) || p;

  const lines = [
    `Development certificates written to ${show(outDir)} (ECDSA P-256; keys are mode 0600):`,
    '',
    `  ${show(files.ca.cert).padEnd(36)} dev CA — trust it for local testing only`,
    `  ${show(files.server.cert).padEnd(36)} server: localhost, 127.0.0.1, ::1 (key ${show(files.server.key)})`,
    `  ${show(files.client.cert).padEnd(36)} client CN=dev-client (key ${show(files.client.key)})`,
    `  ${show(files.expiredClient.cert).padEnd(36)} client whose validity has already ended`,
    `  ${show(files.revokedClient.cert).padEnd(36)} client listed in ${show(files.crl)}`,
    `  ${show(files.crl).padEnd(36)} CRL signed by the dev CA`,
    `  ${show(files.otherClient.cert).padEnd(36)} client from another CA (${show(files.otherCa.cert)})`,
    '',
    'Serve HTTPS with the server certificate (portcullis.yaml):',
    '  listeners:',
    '    - name: public',
    '      tls:',
    `        cert: ${show(files.server.cert)}`,
    `        key: ${show(files.server.key)}`,
    '',
    'Call it with the client certificate:',
    `  curl --cacert ${show(files.ca.cert)} --cert ${show(files.client.cert)} --key ${show(files.client.key)} https://localhost:PORT/`,
    '',
    'These are for development and tests only: never deploy them or trust the dev CA system-wide.',
  ];
  out.write(`${lines.join('\n')}\n`);
}
