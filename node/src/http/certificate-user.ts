// With -trusted-ca-file: the CN of a verified client certificate is the user (ADR 0068, 0074).
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

export function certificateUser(req: IncomingMessage): string | null {
  const socket = req.socket as TLSSocket;
  if (socket.authorized !== true) return null;
  const cn = socket.getPeerX509Certificate?.()?.subject.match(/(?:^|\n)CN=([^\n]+)/)?.[1];
  return cn !== undefined && cn !== '' ? cn : null;
}
