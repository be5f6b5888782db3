import type { FunctionComponent } from 'preact';
import type { Role } from '../session';
import { HomeView } from './Home';
import { OverviewView } from './Overview';
import { EnginesView } from './operator/Engines';
import { ErrorsView } from './operator/Errors';
import { QueuesView } from './operator/Queues';
import { TenantView } from './operator/Tenant';
import { TenantsView } from './operator/Tenants';
import { WorkersView } from './operator/Workers';
import { ScanView } from './Scan';
import { ScansView } from './Scans';
import { BucketsView } from './Buckets';
import { JobsView } from './Jobs';
import { KeysView } from './Keys';
import { SchedulesView } from './Schedules';
import { SettingsView } from './Settings';

/**
 * Every view of the console: its path (`:name` parts become props), its title, who may open it,
 * and whether the navigation lists it. A new view is one file in views/ and one entry here.
 */
export interface ViewDef {
  path: string;
  title: string;
  roles: Role[];
  /** Listed in the navigation (pages reached from another, like one scan, are not). */
  nav: boolean;
  component: FunctionComponent<{ params: Record<string, string> }>;
}

/** Where each role lands after signing in (`/` leads there). */
export const HOME: Record<Role, string> = { tenant: '/overview', operator: '/' };

export const VIEWS: ViewDef[] = [
  { path: '/', title: 'Home', roles: ['tenant', 'operator'], nav: false, component: HomeView },
  // The tenant's home.
  {
    path: '/overview',
    title: 'Overview',
    roles: ['tenant'],
    nav: true,
    component: OverviewView,
  },
  { path: '/scans', title: 'Scans', roles: ['tenant'], nav: true, component: ScansView },
  { path: '/scans/:id', title: 'Scan', roles: ['tenant'], nav: false, component: ScanView },
  // Tenant administration.
  { path: '/buckets', title: 'Buckets', roles: ['tenant'], nav: true, component: BucketsView },
  { path: '/jobs', title: 'Retro jobs', roles: ['tenant'], nav: true, component: JobsView },
  {
    path: '/schedules',
    title: 'Schedules',
    roles: ['tenant'],
    nav: true,
    component: SchedulesView,
  },
  { path: '/keys', title: 'Keys', roles: ['tenant'], nav: true, component: KeysView },
  { path: '/settings', title: 'Settings', roles: ['tenant'], nav: true, component: SettingsView },
  // Operator views (the admin token's session only; the API refuses /admin to tenants anyway).
  { path: '/tenants', title: 'Tenants', roles: ['operator'], nav: true, component: TenantsView },
  { path: '/tenants/:id', title: 'Tenant', roles: ['operator'], nav: false, component: TenantView },
  { path: '/queues', title: 'Queues', roles: ['operator'], nav: true, component: QueuesView },
  { path: '/workers', title: 'Workers', roles: ['operator'], nav: true, component: WorkersView },
  { path: '/engines', title: 'Engines', roles: ['operator'], nav: true, component: EnginesView },
  {
    path: '/errors',
    title: 'Recent errors',
    roles: ['operator'],
    nav: true,
    component: ErrorsView,
  },
];
