// The few S3 calls the archive makes, over @aws-sdk/client-s3. Credentials come from the SDK's
// usual chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY ...); an endpoint (MinIO, another
// S3-compatible store) uses path-style addressing.
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { BackupError } from './errors.ts';
import { sha256 } from './archive-layout.ts';

export interface S3Location {
  bucket: string;
  /** Empty or ending with '/'. */
  prefix: string;
  endpoint?: string;
  region?: string;
}

/** One request may take this long before it is abandoned (and retried by the caller). */
const REQUEST_TIMEOUT_MS = 30_000;

export class ObjectStore {
  readonly loc: S3Location;
  private readonly s3: S3Client;

  constructor(loc: S3Location) {
    this.loc = loc;
    this.s3 = new S3Client({
      region: loc.region ?? process.env.AWS_REGION ?? 'us-east-1',
      ...(loc.endpoint ? { endpoint: loc.endpoint, forcePathStyle: true } : {}),
      maxAttempts: 1,
      requestHandler: { requestTimeout: REQUEST_TIMEOUT_MS, connectionTimeout: 5000 },
    });
  }

  /**
   * Writes `body` under `key` unless it exists (If-None-Match: *): written once, never replaced.
   * Resolves false when the key already existed (another uploader wrote the same range first).
   */
  async putOnce(key: string, body: Uint8Array): Promise<boolean> {
    try {
      await this.s3.send(
        new PutObjectCommand({
          Bucket: this.loc.bucket,
          Key: key,
          Body: body,
          ContentLength: body.byteLength,
          IfNoneMatch: '*',
          Metadata: { sha256: sha256(body) },
        }),
        { abortSignal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) },
      );
      return true;
    } catch (e) {
      const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 412 || (e as Error).name === 'PreconditionFailed') return false;
      throw e;
    }
  }

  /** The object's bytes, checked against its x-amz-meta-sha256. */
  async getVerified(key: string): Promise<Buffer> {
    let res;
    try {
      res = await this.s3.send(new GetObjectCommand({ Bucket: this.loc.bucket, Key: key }), {
        abortSignal: AbortSignal.timeout(5 * REQUEST_TIMEOUT_MS),
      });
    } catch (e) {
      if ((e as Error).name === 'NoSuchKey') throw new BackupError('not-found', `object ${key} is missing`);
      throw e;
    }
    const body = Buffer.from(await res.Body!.transformToByteArray());
    const want = res.Metadata?.sha256;
    if (want === undefined) throw new BackupError('corrupt', `object ${key} has no sha256 metadata`);
    const got = sha256(body);
    if (got !== want)
      throw new BackupError('corrupt', `object ${key} fails its sha256 (recorded ${want}, computed ${got})`);
    return body;
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.s3.send(new HeadObjectCommand({ Bucket: this.loc.bucket, Key: key }));
      return true;
    } catch (e) {
      if ((e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
      throw e;
    }
  }

  /** Every key under `sub` (after the prefix), in key order, starting after `startAfter`. */
  async list(sub: string, startAfter?: string): Promise<{ key: string; lastModified: number }[]> {
    const out: { key: string; lastModified: number }[] = [];
    let token: string | undefined;
    do {
      const res = await this.s3.send(
        new ListObjectsV2Command({
          Bucket: this.loc.bucket,
          Prefix: this.loc.prefix + sub,
          ...(token ? { ContinuationToken: token } : startAfter ? { StartAfter: startAfter } : {}),
        }),
        { abortSignal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) },
      );
      for (const o of res.Contents ?? [])
        if (o.Key) out.push({ key: o.Key, lastModified: o.LastModified?.getTime() ?? 0 });
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  /**
   * Deletes the keys (1000 per request). S3 answers 200 and lists the keys it refused (object
   * lock: AccessDenied until their retention ends); those are an error naming how many and one.
   */
  async remove(keys: string[]): Promise<void> {
    const refused: string[] = [];
    for (let i = 0; i < keys.length; i += 1000) {
      const res = await this.s3.send(
        new DeleteObjectsCommand({
          Bucket: this.loc.bucket,
          Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true },
        }),
      );
      for (const e of res.Errors ?? [])
        refused.push(`${e.Key ?? '?'}: ${e.Code ?? ''} ${e.Message ?? ''}`.trim());
    }
    if (refused.length > 0)
      throw new Error(`${refused.length} of ${keys.length} objects not deleted (${refused[0]})`);
  }

  destroy(): void {
    this.s3.destroy();
  }
}
