// One name per Ollama model. Clients name a model as they like (`llama3.2`, `llama3.2:latest`,
// `registry.ollama.ai/library/llama3.2:latest` are one model), while Ollama's /api/ps always shows
// its shortest full form, `llama3.2:latest`. Records, metric labels and the residency view all use
// that form, so that a model's requests and its residency join on the name.

const DEFAULT_HOST = 'registry.ollama.ai';
const DEFAULT_NAMESPACE = 'library';
const DEFAULT_TAG = 'latest';

/**
 * A model name as Ollama shows it (types/model/name.go: ParseName, then DisplayShortest): the tag
 * made explicit (`:latest` when missing), the default registry and namespace left out. A name
 * Ollama could not parse is returned as it is.
 */
export function ollamaModelName(name: string): string {
  let rest = name;
  let tag = DEFAULT_TAG;
  // "/" cannot be part of a tag, so the last ":" after the last "/" starts the tag.
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const parts = rest.split('/');
  if (parts.length > 3 || parts.some((p) => p === '') || tag === '') return name;
  const model = parts.pop()!;
  const namespace = parts.pop() ?? DEFAULT_NAMESPACE;
  const host = parts.pop() ?? DEFAULT_HOST;
  let prefix = '';
  if (host.toLowerCase() !== DEFAULT_HOST) prefix = `${host}/${namespace}/`;
  else if (namespace.toLowerCase() !== DEFAULT_NAMESPACE) prefix = `${namespace}/`;
  return `${prefix}${model}:${tag}`;
}
