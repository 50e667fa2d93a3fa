// The JS tasks of the iris pipeline (manifest.tasks): every exported function is a task.
export function load_data(dataset, seed) {
  return { dataset, seed, rows: 150 };
}

export function train(data, { epochs }) {
  return { kind: 'toy', epochs, accuracy: Math.min(0.99, 0.8 + 0.05 * epochs), trained_on: data.dataset };
}
