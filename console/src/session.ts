import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { ApiClient } from './api/client';
import type { components } from './api/schema';

export type Session = components['schemas']['ConsoleSession'];
export type Role = Session['kind'];

export interface ConsoleContext {
  session: Session;
  api: ApiClient;
  navigate: (path: string, options?: { replace?: boolean }) => void;
  signOut: () => Promise<void>;
}

export const Console = createContext<ConsoleContext | undefined>(undefined);

/** The signed-in console's session, client and navigation (inside the layout only). */
export function useConsole(): ConsoleContext {
  const value = useContext(Console);
  if (!value) throw new Error('useConsole outside a signed-in console');
  return value;
}
