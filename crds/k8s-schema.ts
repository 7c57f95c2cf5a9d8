import Type, { type TUnsafe } from 'typebox';

/**
 * Schema pieces that TypeBox's defaults would render in a form the apiserver rejects or that
 * Kubernetes spells its own way. A structural schema may not use patternProperties, const or
 * additionalProperties: false, so maps, enums and quantities are written by hand here.
 */

/** A string restricted to a fixed set; rendered as `enum`, typed as the union of the values. */
export function StringEnum<const V extends readonly string[]>(values: V, options: Record<string, unknown>): TUnsafe<V[number]> {
  return Type.Unsafe<V[number]>({ type: 'string', enum: [...values], ...options });
}

/** An object with arbitrary keys: `additionalProperties`, which the apiserver accepts, never `patternProperties`. */
export function StringMap(options: Record<string, unknown>): TUnsafe<Record<string, string>> {
  return MapOf(Type.Unsafe<string>(Type.String()), options);
}

export function MapOf<V>(value: TUnsafe<V>, options: Record<string, unknown>): TUnsafe<Record<string, V>> {
  return Type.Unsafe<Record<string, V>>({ type: 'object', additionalProperties: value, ...options });
}

/** resource.Quantity as kubebuilder renders it, so `kubectl explain` and validation match core types. */
export const QUANTITY_PATTERN =
  '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';

export function Quantity(options: Record<string, unknown>): TUnsafe<string | number> {
  return Type.Unsafe<string | number>({
    anyOf: [{ type: 'integer' }, { type: 'string' }],
    pattern: QUANTITY_PATTERN,
    'x-kubernetes-int-or-string': true,
    ...options,
  });
}

/**
 * A field kept as an opaque object (pod affinity, env valueFrom): core types the apiserver already
 * validates on the Pod, where copying their thousand-line schema would only drift.
 */
export function OpaqueObject<T extends object>(options: Record<string, unknown>): TUnsafe<T> {
  return Type.Unsafe<T>({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true, ...options });
}

/** RFC 1123 subdomain, the rule for most object names (Secret, PVC, ServiceAccount). */
export const DNS_SUBDOMAIN_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
