// From a sink's configuration to its writer: the format, the output and the filter joined.
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { AuditConfig, AuditSinkConfig } from '../config.ts';
import type { AuditError } from '../errors.ts';
import { SinkWriter } from '../writer.ts';
import { authLog } from './auth.ts';
import { FileOutput } from './file.ts';
import { compileFilter } from './filter.ts';
import type { Format, Output } from './format.ts';
import { jsonLines } from './json.ts';
import { sqlErrors } from './sql-errors.ts';
import { syslogFormat } from './syslog.ts';
import { UdpSyslogOutput, UnixSyslogOutput } from './syslog-transport.ts';
import { enterpriseXml } from './xml.ts';

export interface SinkContext {
  config: AuditConfig;
  log: Logger;
  /** Where relative file paths start. */
  baseDir: string;
  /** For tests that step through rotation by age. */
  now?: () => number;
}

export function createSink(sink: AuditSinkConfig, ctx: SinkContext): SinkWriter {
  // The output reports problems that fail no write through the writer, which exists only later.
  let writer: SinkWriter | null = null;
  const report = (err: AuditError) => writer?.report(err);
  let format: Format;
  let output: Output;
  if (sink.type === 'syslog') {
    const unix = sink.address.kind === 'unix';
    format = syslogFormat({
      facility: sink.facility,
      format: sink.format,
      sdId: sink.sdId,
      hostname: sink.hostname ?? hostname(),
      maxMessageBytes: sink.maxMessageBytes,
      bodyOnly: unix,
    });
    output =
      sink.address.kind === 'unix'
        ? new UnixSyslogOutput(sink.address.path, sink.maxMessageBytes, report)
        : new UdpSyslogOutput(sink.address.host, sink.address.port);
  } else {
    const zone = ctx.config.time;
    format =
      sink.type === 'json'
        ? jsonLines()
        : sink.type === 'xml'
          ? enterpriseXml()
          : sink.type === 'sql-errors'
            ? sqlErrors(zone)
            : authLog(zone);
    output = new FileOutput({
      path: resolve(ctx.baseDir, sink.path),
      format,
      policy: sink.rotate,
      mode: sink.mode,
      report,
      ...(ctx.now ? { now: ctx.now } : {}),
    });
  }
  writer = new SinkWriter({
    name: sink.name,
    filter: compileFilter(sink.filter),
    format,
    output,
    strict: sink.strict ?? ctx.config.strict,
    maxQueue: ctx.config.maxQueue,
    log: ctx.log,
  });
  return writer;
}
