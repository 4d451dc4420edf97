import { describe, expect, it } from 'vitest';
import { compile, DEPLOYER, EXAMPLE_POLICY } from '../../test/helpers/policy.js';
import { toolVisibility } from './tool-visibility.js';

const policy = compile(EXAMPLE_POLICY);

describe('toolVisibility', () => {
  it('shows a tool some rule may allow for the principal', () => {
    expect(toolVisibility(policy, DEPLOYER, 'restart_service', 'prod')).toEqual({ visible: true });
    expect(toolVisibility(policy, DEPLOYER, 'read_logs', 'prod')).toEqual({ visible: true });
  });

  it('hides a tool when no allow rule can match the principal', () => {
    const stagingOnly = { ...DEPLOYER, role: 'staging-deployer' };
    const seen = toolVisibility(policy, stagingOnly, 'restart_service', 'prod');
    expect(seen.visible).toBe(false);
    expect(seen.reason).toMatch(/no rule allows restart_service in prod for role staging-deployer/);
    expect(toolVisibility(policy, stagingOnly, 'restart_service', 'staging').visible).toBe(true);
  });

  it('hides every tool from a role identity binding refuses, and prod tools from a credential without a task', () => {
    expect(toolVisibility(policy, { ...DEPLOYER, role: 'intern' }, 'read_logs', 'staging')).toMatchObject({ visible: false, reason: expect.stringMatching(/known-roles/) });
    const { task: _task, ...noTask } = DEPLOYER;
    expect(toolVisibility(policy, noTask, 'deploy', 'prod')).toMatchObject({ visible: false, reason: expect.stringMatching(/prod-needs-task/) });
  });

  it('never hides a tool whose rules depend on the action or its impact', () => {
    // impact-must-be-known denies only when impact is unknown: the probe cannot decide it, so it does not hide.
    expect(toolVisibility(policy, DEPLOYER, 'scale_service', 'prod').visible).toBe(true);
  });
});
