import type { ComponentChildren } from 'preact';
import { href, navigate } from '../router';

/** A link inside the console: a real `<a href>` (new tab works), navigated without reloading. */
export function Link({
  to,
  children,
  current = false,
}: {
  to: string;
  children: ComponentChildren;
  current?: boolean;
}) {
  const onClick = (event: MouseEvent) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey)
      return;
    event.preventDefault();
    navigate(to);
  };
  return (
    <a href={href(to)} onClick={onClick} aria-current={current ? 'page' : undefined}>
      {children}
    </a>
  );
}
