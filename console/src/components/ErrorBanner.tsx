/** An error message, announced to screen readers as soon as it appears. */
export function ErrorBanner({ message }: { message: string | undefined }) {
  if (!message) return null;
  return (
    <div class="error-banner" role="alert">
      {message}
    </div>
  );
}
