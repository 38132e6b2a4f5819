import assert from 'node:assert/strict';
import { it } from 'node:test';
import { forwardFlops, parameterCount } from './flops.js';
import { createModel, modelNames, resolveConfig } from './registry.js';
import { VisionTransformer } from './vision_transformer.js';

it('every variant builds with LaPE and its analytic parameter count matches the model', () => {
  // Shrunk so that building every variant stays fast; the counting rules are the same.
  for (const name of modelNames()) {
    for (const join of ['basic', 'LaPE', 'unshare'] as const) {
      const cfg = resolveConfig(name, { join, depth: 2, embedDim: 48, numHeads: 3 });
      const model = new VisionTransformer(cfg);
      assert.equal(parameterCount(cfg), model.numParameters(), `${name} ${join}`);
      model.dispose();
    }
  }
  const rpe = resolveConfig('lape_tiny', { pe: 'learnable', join: 'LaPE', rpe: 'LN' });
  assert.equal(parameterCount(rpe), new VisionTransformer(rpe).numParameters());
});

it('DeiT-Tiny has the reference parameter count and about 1.26 GMACs', () => {
  const cfg = resolveConfig('deit_tiny_patch16_224');
  assert.equal(parameterCount(cfg), 5_717_416); // timm's deit_tiny_patch16_224
  assert.ok(Math.abs(forwardFlops(cfg) / 2e9 - 1.26) < 0.03, `${forwardFlops(cfg) / 2e9} GMACs`);
});

it('rejects invalid combinations with the valid ones listed', () => {
  assert.throws(
    () => createModel('lape_tiny', { pe: '1D_sin', join: 'unshare' }),
    /join 'unshare' needs a learnable pe.*valid pe for unshare: learnable/,
  );
  assert.throws(
    () => createModel('lape_tiny', { pe: 'none', join: 'LaPE' }),
    /pe 'none' has nothing to join: use join 'basic'/,
  );
  assert.throws(
    () => createModel('lape_tiny', { pe: '2D_RPE', join: 'LaPE' }),
    /pe '2D_RPE' joins with 'basic' or 'LN'/,
  );
  assert.throws(
    () => createModel('lape_tiny', { join: 'LN' }),
    /valid: basic, share, unshare, LaPE, LaPE-shared/,
  );
  assert.throws(() => createModel('nope'), /unknown model 'nope'; available: deit_tiny_patch16_224/);
  assert.throws(
    () => createModel('lape_tiny', { imgSize: 18 }),
    /imgSize 18 must be a multiple of patchSize 4/,
  );
});

it("splits weight decay as the reference's timm add_weight_decay with no_weight_decay = {pos_embed, cls_token}", () => {
  const exempt = (overrides: Parameters<typeof createModel>[1]): Set<string> => {
    const model = createModel('lape_tiny', overrides);
    const { decay, noDecay } = model.weightDecayGroups();
    assert.equal(decay.length + noDecay.length, model.namedParameters().length);
    const names = new Set(noDecay.map(([n]) => n));
    model.dispose();
    return names;
  };
  const lape = exempt({ join: 'LaPE' });
  for (const n of [
    'pos_embed',
    'cls_token',
    'blocks.0.pe_norm.weight',
    'blocks.0.attn.qkv.bias',
    'norm.weight',
  ])
    assert.ok(lape.has(n), `${n} is exempt`);
  for (const n of ['patch_embed.proj.weight', 'blocks.0.attn.qkv.weight', 'head.weight'])
    assert.ok(!lape.has(n), `${n} decays`);
  // Decayed in the reference, though lape exempted them before: dist_token, pos_embed<i>, RPE tables.
  assert.ok(!exempt({ join: 'LaPE', distilled: true }).has('dist_token'));
  assert.ok(!exempt({ join: 'unshare' }).has('pos_embed0'));
  assert.ok(!exempt({ join: 'LaPE', rpe: 'basic' }).has('blocks.0.attn.relative_position_bias_table'));
});
