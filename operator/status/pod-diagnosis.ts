import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { MODEL_LOAD_FAILED_EXIT_CODE } from '../../contract/pod-layout.js';
import { FETCH_CONTAINER, SERVER_CONTAINER } from '../builders/deployment.js';

/** Why a server pod is not serving, named as `kubectl get pods` would show it (CamelCase, condition-ready). */
export type PodProblemReason =
  | 'ModelFetchFailed'
  | 'ModelLoadFailed'
  | 'InitContainerFailed'
  | 'ImagePullBackOff'
  | 'CreateContainerConfigError'
  | 'CreateContainerError'
  | 'RunContainerError'
  | 'CrashLoopBackOff'
  | 'Unschedulable';

export interface PodProblem {
  reason: PodProblemReason;
  pod: string;
  message: string;
}

/** Where a pod is on its way to serving. */
export type PodStage = 'Terminating' | 'Failed' | 'Pending' | 'FetchingModel' | 'Starting' | 'Ready';

export interface PodDiagnosis {
  pod: string;
  stage: PodStage;
  problem?: PodProblem;
}

/**
 * Most specific first: when several pods fail differently, the condition names the cause a user
 * can act on (a bad model URI) rather than its consequences (a crash loop, a rollout deadline).
 */
export const PROBLEM_PRIORITY: readonly PodProblemReason[] = [
  'ModelFetchFailed',
  'ModelLoadFailed',
  'InitContainerFailed',
  'ImagePullBackOff',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
  'CrashLoopBackOff',
  'Unschedulable',
];

const PULL_FAILURES = new Set(['ImagePullBackOff', 'ErrImagePull', 'InvalidImageName', 'ErrImageNeverPull']);
const START_FAILURES = new Set(['CreateContainerConfigError', 'CreateContainerError', 'RunContainerError']);

const MAX_MESSAGE = 1024;

/** One line, bounded: condition messages are read in `kubectl get -o wide` and capped by the schema. */
export function clip(text: string): string {
  const oneLine = text.trim().replace(/\s*\n\s*/g, ' | ');
  return oneLine.length > MAX_MESSAGE ? `${oneLine.slice(0, MAX_MESSAGE - 3)}...` : oneLine;
}

/** "exit code 2: model fetch failed: ..." from a terminated state. Restart counts are left out: they would change the status on every restart. */
function describeExit(t: { exitCode: number; reason?: string; message?: string }): string {
  const why = t.message?.trim() || t.reason || 'no message';
  return `exit code ${t.exitCode}${t.reason && t.message ? ` (${t.reason})` : ''}: ${why}`;
}

function waitingProblem(pod: string, cs: V1ContainerStatus, init: boolean): PodProblem | undefined {
  const waiting = cs.state?.waiting;
  const reason = waiting?.reason;
  if (!reason) return undefined;
  const detail = waiting.message ? `: ${waiting.message}` : '';
  if (PULL_FAILURES.has(reason)) {
    return { reason: 'ImagePullBackOff', pod, message: clip(`container ${cs.name} cannot pull image ${cs.image} (${reason})${detail}`) };
  }
  if (START_FAILURES.has(reason)) {
    return { reason: reason as PodProblemReason, pod, message: clip(`container ${cs.name}${detail || `: ${reason}`}`) };
  }
  if (reason === 'CrashLoopBackOff') {
    const last = cs.lastState?.terminated;
    const exit = last ? `: last ${describeExit(last)}` : '';
    if (init) return initFailure(pod, cs.name, `${cs.name} keeps failing${exit}`);
    return { reason: 'CrashLoopBackOff', pod, message: clip(`container ${cs.name} keeps crashing${exit}`) };
  }
  return undefined;
}

function initFailure(pod: string, container: string, message: string): PodProblem {
  return { reason: container === FETCH_CONTAINER ? 'ModelFetchFailed' : 'InitContainerFailed', pod, message: clip(message) };
}

/**
 * The server exited because it cannot serve its model (server.exitOnModelError): its termination
 * message is the reason. Read from the current state or, while it restarts or waits in back-off,
 * from the last one, so the condition does not flicker with each restart of an unready pod.
 */
function modelLoadFailure(pod: string, cs: V1ContainerStatus): PodProblem | undefined {
  if (cs.ready) return undefined;
  const t = cs.state?.terminated ?? cs.lastState?.terminated;
  if (t?.exitCode !== MODEL_LOAD_FAILED_EXIT_CODE) return undefined;
  return { reason: 'ModelLoadFailed', pod, message: clip(t.message?.trim() || `container ${cs.name} exited with code ${t.exitCode}: the model cannot be served`) };
}

/** Reads one pod's status the way a person would read `kubectl describe pod`. */
export function diagnosePod(pod: V1Pod): PodDiagnosis {
  const name = pod.metadata?.name ?? '';
  if (pod.metadata?.deletionTimestamp) return { pod: name, stage: 'Terminating' };
  const status = pod.status ?? {};
  // Evicted or otherwise finished pods are replaced by the ReplicaSet; they say nothing about now.
  if (status.phase === 'Failed' || status.phase === 'Succeeded') return { pod: name, stage: 'Failed' };

  const scheduled = status.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') {
    return { pod: name, stage: 'Pending', problem: { reason: 'Unschedulable', pod: name, message: clip(scheduled.message || 'no node fits the pod') } };
  }

  for (const cs of status.initContainerStatuses ?? []) {
    const terminated = cs.state?.terminated;
    if (terminated && terminated.exitCode !== 0) {
      return { pod: name, stage: 'FetchingModel', problem: initFailure(name, cs.name, `${cs.name} ${describeExit(terminated)}`) };
    }
    const problem = waitingProblem(name, cs, true);
    if (problem) return { pod: name, stage: 'FetchingModel', problem };
    if (!terminated) return { pod: name, stage: cs.state?.running ? 'FetchingModel' : 'Pending' };
  }

  const server = status.containerStatuses?.find((c) => c.name === SERVER_CONTAINER) ?? status.containerStatuses?.[0];
  if (!server) return { pod: name, stage: 'Pending' };
  const loadFailure = modelLoadFailure(name, server);
  if (loadFailure) return { pod: name, stage: 'Starting', problem: loadFailure };
  const problem = waitingProblem(name, server, false);
  if (problem) return { pod: name, stage: 'Starting', problem };
  const ready = status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
  if (ready) return { pod: name, stage: 'Ready' };
  return { pod: name, stage: server.state?.running ? 'Starting' : 'Pending' };
}

/** The problem to report for a set of pods: highest priority, then pod name, so the message is stable across reconciles. */
export function worstProblem(diagnoses: readonly PodDiagnosis[]): { problem: PodProblem; affected: number } | undefined {
  const problems = diagnoses.flatMap((d) => (d.problem ? [d.problem] : []));
  if (problems.length === 0) return undefined;
  problems.sort((a, b) => PROBLEM_PRIORITY.indexOf(a.reason) - PROBLEM_PRIORITY.indexOf(b.reason) || a.pod.localeCompare(b.pod));
  return { problem: problems[0]!, affected: problems.length };
}
