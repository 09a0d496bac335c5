// Minimal keep-alive HTTP client for loading keys, polling health and the failover writer.
// node:http rather than fetch: per-request timeouts and agent pools are explicit here.
import http from 'node:http';
import https from 'node:https';

export interface HttpResponse {
  status: number;
  body: string;
  headers?: http.IncomingHttpHeaders;
}

export interface HttpRequestOptions {
  method?: string;
  body?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
  agent?: http.Agent;
}

export function httpRequest(url: string, options: HttpRequestOptions = {}): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      headers['content-length'] = String(Buffer.byteLength(options.body));
    }
    // https URLs go through node:https (the agent then carries the CA of a TLS cluster)
    const request = (url.startsWith('https:') ? https : http).request(
      url,
      { method: options.method ?? 'GET', headers, agent: options.agent },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            headers: response.headers,
          }),
        );
        response.on('error', reject);
      },
    );
    request.setTimeout(options.timeoutMs ?? 5000, () =>
      request.destroy(new Error(`timeout after ${options.timeoutMs ?? 5000} ms: ${url}`)),
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

/** Like httpRequest but never rejects: network failures come back as status 0. */
export async function tryHttpRequest(url: string, options: HttpRequestOptions = {}): Promise<HttpResponse> {
  try {
    return await httpRequest(url, options);
  } catch (error) {
    return { status: 0, body: error instanceof Error ? error.message : String(error) };
  }
}
