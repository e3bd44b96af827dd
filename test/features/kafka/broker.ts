// A real single-node Apache Kafka broker (KRaft: broker and controller in one JVM) for the tests:
// jars from the project's cache (scripts/kafka/fetch-jars.sh fetches them from Maven Central once),
// storage formatted in a temporary directory, free ports, readiness from the broker's own
// "started" line. stop() is a clean shutdown, kill() is SIGKILL, pause() freezes it (SIGSTOP);
// restart() reuses the same log directory and port, so what the broker had acknowledged is still there.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from '../../helpers/store.ts';
import { ROOT } from '../../helpers/paths.ts';
import { requireTier } from '../../helpers/tiers.ts';
import { freePort } from '../../helpers/net.ts';

export interface Broker {
  readonly bootstrap: string;
  readonly port: number;
  readonly dir: string;
  readonly jars: string;
  /** Process id of the running broker JVM (benchmarks read its CPU time). */
  readonly pid: number | undefined;
  /** Clean shutdown (SIGTERM, waits for exit). */
  stop(): Promise<void>;
  /** SIGKILL. */
  kill(): Promise<void>;
  /** SIGSTOP: the broker keeps its connections open and answers nothing (a hung broker). */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
  /** Starts again on the same port and log directory. */
  restart(): Promise<void>;
  /** Stops and deletes the log directory. */
  destroy(): Promise<void>;
}

export function kafkaJars(version = process.env.KAFKA_VERSION ?? '3.9.2'): string {
  const out = execFileSync('bash', [path.join(ROOT, 'scripts/kafka/fetch-jars.sh')], {
    env: { ...process.env, KAFKA_VERSION: version },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return out.trim().split('\n').pop()!;
}

function kafkaUuid(): string {
  // The storage tool's argument parser takes an id that starts with '-' for an option.
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (/^[A-Za-z0-9]/.test(id)) return id;
  }
}

/** JVM flags of the test broker: small heap and quick start-up (C1 only), for many short tests. */
export const TEST_JVM = ['-Xms128m', '-Xmx768m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Xshare:auto'];

export async function startBroker(opts: { version?: string; extra?: Record<string, string>; jvm?: string[] } = {}): Promise<Broker> {
  requireTier('A Kafka broker', 'kafka');
  const version = opts.version ?? process.env.KAFKA_VERSION ?? '3.9.2';
  const jars = kafkaJars(version);
  const dir = tempDir('llmeter-kafka-');
  const port = await freePort();
  const cport = await freePort();
  const props: Record<string, string> = {
    'process.roles': 'broker,controller',
    'node.id': '1',
    'controller.quorum.voters': `1@127.0.0.1:${cport}`,
    listeners: `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${cport}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    'log.dirs': path.join(dir, 'data'),
    'offsets.topic.replication.factor': '1',
    'offsets.topic.num.partitions': '4',
    'transaction.state.log.replication.factor': '1',
    'transaction.state.log.min.isr': '1',
    'transaction.state.log.num.partitions': '4',
    'group.initial.rebalance.delay.ms': '0',
    'auto.create.topics.enable': 'false',
    ...opts.extra,
  };
  const serverProps = path.join(dir, 'server.properties');
  writeFileSync(
    serverProps,
    Object.entries(props)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n') + '\n',
  );
  const major = Number(version.split('.')[0]);
  let logArgs: string[];
  if (major >= 4) {
    const cfg = path.join(dir, 'log4j2.properties');
    writeFileSync(
      cfg,
      [
        'appender.out.type=Console',
        'appender.out.name=OUT',
        'appender.out.layout.type=PatternLayout',
        'appender.out.layout.pattern=[%d] %p %m (%c)%n',
        'rootLogger.level=WARN',
        'rootLogger.appenderRef.out.ref=OUT',
        'logger.raft.name=kafka.server.KafkaRaftServer',
        'logger.raft.level=INFO',
      ].join('\n') + '\n',
    );
    logArgs = [`-Dlog4j2.configurationFile=${cfg}`];
  } else {
    const cfg = path.join(dir, 'log4j.properties');
    writeFileSync(
      cfg,
      [
        'log4j.rootLogger=WARN, stdout',
        'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
        'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
        'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
        'log4j.logger.kafka.server.KafkaRaftServer=INFO',
      ].join('\n') + '\n',
    );
    logArgs = [`-Dlog4j.configuration=file:${cfg}`];
  }
  const cp = `${jars}/*`;
  const jvm = opts.jvm ?? TEST_JVM;
  execFileSync('java', [...jvm, '-cp', cp, ...logArgs, 'kafka.tools.StorageTool', 'format', '-t', kafkaUuid(), '-c', serverProps], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });

  let proc: ChildProcess | undefined;
  let runs = 0;
  const logFile = () => path.join(dir, `broker-${runs}.log`);

  async function launch(): Promise<void> {
    runs++;
    const fd = openSync(logFile(), 'a');
    proc = spawn('java', [...jvm, '-cp', cp, ...logArgs, 'kafka.Kafka', serverProps], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const p = proc;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (p.exitCode !== null) throw new Error(`kafka broker exited (${p.exitCode}):\n${readFileSync(logFile(), 'utf8').slice(-3000)}`);
      if (readFileSync(logFile(), 'utf8').includes('Kafka Server started')) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    p.kill('SIGKILL');
    throw new Error(`kafka broker did not start within 60 s:\n${readFileSync(logFile(), 'utf8').slice(-3000)}`);
  }

  async function signal(sig: NodeJS.Signals, waitMs: number): Promise<void> {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill(sig);
    const t = setTimeout(() => p.kill('SIGKILL'), waitMs);
    await exited;
    clearTimeout(t);
  }

  await launch();
  mkdirSync(path.join(dir, 'data'), { recursive: true });
  return {
    bootstrap: `127.0.0.1:${port}`,
    port,
    dir,
    jars,
    get pid() {
      return proc?.pid;
    },
    stop: () => signal('SIGTERM', 20_000),
    kill: () => signal('SIGKILL', 5_000),
    pause: () => void proc?.kill('SIGSTOP'),
    resume: () => void proc?.kill('SIGCONT'),
    restart: async () => {
      await signal('SIGKILL', 5_000);
      await launch();
    },
    destroy: async () => {
      await signal('SIGTERM', 10_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
