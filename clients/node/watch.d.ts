// require('metad-client/watch'): the resuming stream class (client.watchFiles
// and client.watchRuns return it).
export { WatchStream, ReconnectInfo } from './index';
export declare const START_HEADER: string;
