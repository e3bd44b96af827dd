// Shared settings of the AWS SDK clients: region, optional endpoint, static credentials when the
// configuration gives them (otherwise the SDK's default chain), and no SDK-level retries — the sync
// retries whole fetches with its own backoff and counts them.
import { readFileSync } from 'node:fs';

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
  requestHandler: { requestTimeout: number; connectionTimeout: number };
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
    requestHandler: { requestTimeout: s.timeoutMs, connectionTimeout: Math.min(s.timeoutMs, 10_000) },
  };
}
