// Shared settings of the AWS SDK clients: region, optional endpoint, static credentials when the
// configuration gives them (otherwise the SDK's default chain), and no SDK-level retries — the sync
// retries whole fetches with its own backoff and counts them. Every request has the source's
// timeout and the sync's stop signal, like the sources that use fetch.
import { readFileSync } from 'node:fs';
import { SourceConfigError } from '../source.ts';

export interface AwsCredentialSettings {
  access_key_id: string;
  secret_access_key: string;
  secret_access_key_file: string;
  session_token: string;
}

export interface AwsClientSettings {
  endpoint: string;
  credentials: AwsCredentialSettings;
  timeoutMs: number;
}

export interface AwsClientConfig {
  region: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  maxAttempts: number;
  requestHandler: { requestTimeout: number; connectionTimeout: number; throwOnRequestTimeout: boolean };
}

export function awsClientConfig(s: AwsClientSettings, region: string): AwsClientConfig {
  const c = s.credentials;
  const secret = c.secret_access_key || (c.secret_access_key_file ? readFileSync(c.secret_access_key_file, 'utf8').trim() : '');
  return {
    region,
    ...(s.endpoint ? { endpoint: s.endpoint } : {}),
    ...(c.access_key_id && secret
      ? { credentials: { accessKeyId: c.access_key_id, secretAccessKey: secret, ...(c.session_token ? { sessionToken: c.session_token } : {}) } }
      : {}),
    maxAttempts: 1,
    // Without throwOnRequestTimeout the SDK's HTTP handler only logs a warning when a request runs
    // past requestTimeout, and keeps waiting.
    requestHandler: { requestTimeout: s.timeoutMs, connectionTimeout: Math.min(s.timeoutMs, 10_000), throwOnRequestTimeout: true },
  };
}

/**
 * One SDK request under the source's deadline (connect to last byte of the answer, which the
 * handler's requestTimeout alone does not cover) and the sync's stop signal. Missing credentials
 * are reported as a configuration error: another attempt would not find them either.
 */
export async function sendAws<T>(send: (abortSignal: AbortSignal) => Promise<T>, what: string, timeoutMs: number, stop?: AbortSignal): Promise<T> {
  const deadline = AbortSignal.timeout(timeoutMs);
  try {
    return await send(stop ? AbortSignal.any([stop, deadline]) : deadline);
  } catch (err) {
    if (deadline.aborted && !stop?.aborted) throw new Error(`${what}: no answer within ${timeoutMs} ms (prices.timeout_ms)`, { cause: err });
    if (err instanceof Error && err.name === 'CredentialsProviderError') {
      throw new SourceConfigError(
        `${what}: no AWS credentials (${err.message.split('\n')[0]}); set them under the source's credentials, or in the AWS SDK's environment, profile or instance role`,
      );
    }
    throw err;
  }
}
