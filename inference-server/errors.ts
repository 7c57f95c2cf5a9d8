/**
 * Errors the client caused or must react to. Each carries the HTTP status and a stable code so the
 * HTTP layer answers `{"error": {"code", "message"}}` and never a bare 500 for bad input.
 */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}
